/**
 * Where the companion's own files are, in both of its layouts: the tsc build
 * (companion/dist/companion/src/main.js, this file beside it) and the bundle a wheel ships
 * (jupyterlab_slurm_kernels/companion/main.js, all modules in that one file). Either way the
 * directory of this module is the directory of main.js, and the shim is shim/main.js below it.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Set by the bundler (companion/scripts/bundle.js); undefined in the tsc build. */
declare const SLURM_KERNELS_VERSION: string | undefined;

/** The directory that holds the companion's main.js. */
export const COMPANION_DIR = __dirname;

/** The companion's entry script (`slurm-kernels`). */
export const MAIN_SCRIPT = path.join(COMPANION_DIR, 'main.js');

/** The kernel shim, the script kernelspecs run. */
export const SHIM_SCRIPT = path.join(COMPANION_DIR, 'shim', 'main.js');

/**
 * The companion's version: defined at build time in the bundle, else read from the companion's
 * package.json, found by walking up from this file (src/ or dist/).
 */
export function ownVersion(): string {
  if (typeof SLURM_KERNELS_VERSION === 'string') {
    return SLURM_KERNELS_VERSION;
  }
  for (let dir = COMPANION_DIR; dir !== path.dirname(dir);) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8'));
      if (pkg.name === 'jupyterlab-slurm-kernels-companion') {
        return pkg.version;
      }
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}
