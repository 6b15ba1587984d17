/**
 * Checks of the JupyterLab the doctor finds on PATH: its version, our labextension, our server
 * extension and jupyter-server-proxy (through which JupyterLab reaches the companion). The doctor may
 * run outside the lab's environment: then there is nothing to check, and it says so.
 */
import { stripVTControlCharacters } from 'node:util';
import type { IDoctorContext } from './context';
import { fail, ICheckResult, ok, warn } from './report';

export const LABEXTENSION = 'jupyterlab-slurm-kernels';
export const SERVER_EXTENSIONS = [
  'jupyterlab_slurm_kernels',
  'jupyter_server_proxy'
];
/** The JupyterLab minor release the extension is built for. */
export const SUPPORTED_LAB = /^4\.6\./;

const NO_JUPYTER_FIX =
  "run the doctor in JupyterLab's environment (e.g. after `. ~/lab/bin/activate`) to check it";

export type ExtensionState =
  | { installed: false }
  | { installed: true; enabled: boolean; version?: string; valid: boolean };

/**
 * The output of a `jupyter` subcommand, both streams (the extension lists print to stderr), ANSI
 * colours removed; null when jupyter is not on PATH.
 */
async function jupyterOutput(
  ctx: IDoctorContext,
  args: string[]
): Promise<{ code: number | null; text: string } | null> {
  if (!(await ctx.which('jupyter'))) {
    return null;
  }
  // Python starts slowly on a busy login node: a minute, not the 30 s default.
  const result = await ctx.runner.run(['jupyter', ...args], {
    timeoutMs: 60_000
  });
  const text = stripVTControlCharacters(`${result.stdout}\n${result.stderr}`);
  return { code: result.code, text };
}

/** "jupyterlab-slurm-kernels v0.1.0 enabled OK" in `jupyter labextension list`. */
export function parseLabextension(text: string, name: string): ExtensionState {
  const escaped = escapeRegExp(name);
  const line = new RegExp(
    `^\\s*${escaped}\\s+v(\\S+)\\s+(enabled|disabled)\\s*(OK|X)?`,
    'm'
  ).exec(text);
  if (!line) {
    return { installed: false };
  }
  return {
    installed: true,
    version: line[1],
    enabled: line[2] === 'enabled',
    valid: line[3] !== 'X'
  };
}

/**
 * "    name enabled" then "      name 0.1.0 OK" in `jupyter server extension list`. The first config
 * directory it is listed in wins: the user's config comes first and overrides the environment's.
 */
export function parseServerExtension(
  text: string,
  name: string
): ExtensionState {
  const escaped = escapeRegExp(name);
  const state = new RegExp(
    `^\\s*${escaped}\\s+(enabled|disabled)\\s*$`,
    'm'
  ).exec(text);
  if (!state) {
    return { installed: false };
  }
  const validated = new RegExp(
    `^\\s*${escaped}\\s+(\\S*)\\s*(OK|X)\\s*$`,
    'm'
  ).exec(text);
  return {
    installed: true,
    enabled: state[1] === 'enabled',
    version: validated?.[1] || undefined,
    // A failed validation prints "X <error>" without the name.
    valid: validated?.[2] === 'OK'
  };
}

export async function checkJupyterLab(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'jupyterlab';
  const listed = await jupyterOutput(ctx, ['labextension', 'list']);
  if (!listed) {
    return warn(check, 'no jupyter on PATH', NO_JUPYTER_FIX);
  }
  const version = /JupyterLab v(\S+)/.exec(listed.text)?.[1];
  if (!version) {
    return fail(
      check,
      `\`jupyter labextension list\` does not name a JupyterLab (exit ${listed.code}): ${lastLine(listed.text)}`,
      "pip install 'jupyterlab>=4.6,<4.7' in this environment"
    );
  }
  const ours = parseLabextension(listed.text, LABEXTENSION);
  const found = `JupyterLab ${version}; ${describeExtension(LABEXTENSION, ours)}`;
  if (!ours.installed) {
    return fail(
      check,
      found,
      "pip install the jupyterlab_slurm_kernels wheel into JupyterLab's environment"
    );
  }
  if (!ours.enabled || !ours.valid) {
    return fail(
      check,
      found,
      ours.enabled
        ? `reinstall the wheel for JupyterLab ${version} (\`jupyter labextension list\` says why it is not OK)`
        : `jupyter labextension enable ${LABEXTENSION}`
    );
  }
  if (!SUPPORTED_LAB.test(version)) {
    return warn(
      check,
      `${found}; the extension is built for JupyterLab 4.6`,
      "pip install 'jupyterlab>=4.6,<4.7'"
    );
  }
  return ok(check, found);
}

export async function checkServerExtensions(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'server extensions';
  const listed = await jupyterOutput(ctx, ['server', 'extension', 'list']);
  if (!listed) {
    return warn(check, 'no jupyter on PATH', NO_JUPYTER_FIX);
  }
  const states = SERVER_EXTENSIONS.map(
    name => [name, parseServerExtension(listed.text, name)] as const
  );
  const found = states.map(([n, s]) => describeExtension(n, s)).join('; ');
  const broken = states.filter(
    ([, s]) => !s.installed || !s.enabled || !s.valid
  );
  if (broken.length === 0) {
    return ok(check, found);
  }
  const fixes = broken.map(([name, s]) =>
    s.installed && !s.enabled
      ? `jupyter server extension enable ${name}`
      : `pip install ${name === 'jupyter_server_proxy' ? 'jupyter-server-proxy' : 'the jupyterlab_slurm_kernels wheel'} into JupyterLab's environment`
  );
  return fail(check, found, fixes.join('; '));
}

function describeExtension(name: string, state: ExtensionState): string {
  if (!state.installed) {
    return `${name} not installed`;
  }
  const version = state.version ? ` ${state.version.replace(/^v?/, 'v')}` : '';
  const validity = state.valid ? '' : ' (not OK)';
  return `${name}${version} ${state.enabled ? 'enabled' : 'disabled'}${validity}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
