#!/usr/bin/env node
/**
 * The companion as the wheel ships it, in jupyterlab_slurm_kernels/companion/ (build output, not
 * in git): main.js (the companion and its CLI) and shim/main.js (the kernel shim), each one file
 * made by esbuild, and beside them the one package that cannot be bundled: zeromq, a native addon
 * (its JS, the prebuilt addon for Linux x64 with glibc, and cmake-ts's loader that finds it). ssh2's
 * optional native parts (cpu-features, sshcrypto.node) stay out: ssh2 then uses its pure-JS code.
 *
 *   node scripts/bundle.js [OUT_DIR]
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const COMPANION = path.resolve(__dirname, '..');
const OUT = path.resolve(
  process.argv[2] ??
    path.join(COMPANION, '..', 'jupyterlab_slurm_kernels', 'companion')
);
const { version } = require(path.join(COMPANION, 'package.json'));

/** The shared wire schemas (../src/api) import zod too: one copy, the companion's. */
const oneZod = {
  name: 'one-zod',
  setup(build) {
    build.onResolve({ filter: /^zod(\/.*)?$/ }, args => ({
      path: require.resolve(args.path, { paths: [COMPANION] })
    }));
  }
};

function bundle(entry, outfile) {
  return esbuild.build({
    entryPoints: [path.join(COMPANION, entry)],
    outfile: path.join(OUT, outfile),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    keepNames: true,
    sourcemap: false,
    legalComments: 'eof',
    external: ['zeromq', 'cpu-features', '*.node'],
    define: { SLURM_KERNELS_VERSION: JSON.stringify(version) },
    plugins: [oneZod],
    logLevel: 'warning'
  });
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

/** zeromq's JS, its LICENSE, and the prebuilt addon its loader tries first on Linux x64 glibc. */
function shipZeromq() {
  const pkgDir = path.dirname(
    require.resolve('zeromq/package.json', { paths: [COMPANION] })
  );
  const out = path.join(OUT, 'node_modules', 'zeromq');
  for (const file of ['package.json', 'LICENSE.txt', 'LICENSE_MPL-2.0.txt']) {
    if (fs.existsSync(path.join(pkgDir, file))) {
      copy(path.join(pkgDir, file), path.join(out, file));
    }
  }
  for (const file of fs.readdirSync(path.join(pkgDir, 'lib'))) {
    if (file.endsWith('.js')) {
      copy(path.join(pkgDir, 'lib', file), path.join(out, 'lib', file));
    }
  }
  // build/manifest.json maps each build's configuration to its addon; the loader (cmake-ts) keeps
  // those for this os/arch/libc and tries them from the highest ABI down. Ship the one it tries
  // first: it needs only glibc 2.25 and loads in every Node ≥ 20 (N-API).
  const manifest = JSON.parse(
    fs.readFileSync(path.join(pkgDir, 'build', 'manifest.json'), 'utf8')
  );
  const [key] = Object.keys(manifest)
    .filter(k => {
      const c = JSON.parse(k);
      return c.os === 'linux' && c.arch === 'x64' && c.libc === 'glibc';
    })
    .sort((a, b) => (JSON.parse(b).abi ?? 0) - (JSON.parse(a).abi ?? 0));
  if (!key) {
    throw new Error('zeromq has no prebuilt addon for Linux x64 glibc');
  }
  const addon = manifest[key];
  copy(
    path.join(pkgDir, 'build', addon),
    path.join(out, 'build', ...addon.split(/[\\/]/))
  );
  fs.writeFileSync(
    path.join(out, 'build', 'manifest.json'),
    JSON.stringify({ [key]: addon })
  );

  // The loader zeromq requires (cmake-ts/build/loader): one file, found through cmake-ts's exports.
  const loader = require.resolve('cmake-ts/build/loader', { paths: [pkgDir] });
  const cmakeTs = path.dirname(path.dirname(loader));
  copy(
    path.join(cmakeTs, 'package.json'),
    path.join(OUT, 'node_modules', 'cmake-ts', 'package.json')
  );
  copy(
    loader,
    path.join(OUT, 'node_modules', 'cmake-ts', 'build', 'loader.js')
  );
}

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  await bundle('src/main.ts', 'main.js');
  await bundle('src/shim/main.ts', path.join('shim', 'main.js'));
  shipZeromq();
  // The bundle must run on its own: its version, and zeromq's addon loaded from beside it.
  const said = execFileSync(
    process.execPath,
    [
      '-e',
      'require(process.argv[1]); process.stdout.write(require(process.argv[2]).version)',
      path.join(OUT, 'node_modules', 'zeromq'),
      path.join(OUT, 'node_modules', 'zeromq', 'package.json')
    ],
    { encoding: 'utf8' }
  );
  const own = execFileSync(
    process.execPath,
    [path.join(OUT, 'main.js'), 'version'],
    {
      encoding: 'utf8'
    }
  );
  if (!own.startsWith(`slurm-kernels ${version}\n`)) {
    throw new Error(`the bundle says ${JSON.stringify(own)}`);
  }
  process.stdout.write(
    `companion ${version} bundled in ${path.relative(process.cwd(), OUT) || '.'} (zeromq ${said})\n`
  );
}

main().catch(err => {
  process.stderr.write(`bundle: ${err.stack ?? err}\n`);
  process.exit(1);
});
