/**
 * The doctor's test job: it sets a preset's environment up exactly as an allocation's job script
 * does (a login shell, submitted with --export=NONE, the same environment lines), then says what
 * the gateway would find there: the node, Python, Kernel Gateway, Jupyter Server, ipykernel.
 */
import type { Environment } from '../presets';
import { environmentLines } from '../gateway/jobScript';
import { fail, ICheckResult, ok, warn } from './report';

/** Every line the probe writes for the doctor starts with this; the rest of the log is the job's. */
export const PROBE_PREFIX = 'slurm-kernels-doctor:';

/** The exit codes of environmentLines() and what failed. */
const SETUP_STEPS: Record<number, 'module' | 'conda' | 'venv'> = {
  20: 'module',
  21: 'conda',
  22: 'venv'
};

const PYTHON_PROBE = String.raw`import importlib, sys
print("${PROBE_PREFIX} python=%s %s" % (sys.executable, sys.version.split()[0]))
for name in ("kernel_gateway", "ipykernel", "jupyter_server"):
    try:
        found = getattr(importlib.import_module(name), "__version__", "unknown")
    except Exception as err:
        found = "missing %s: %s" % (type(err).__name__, err)
    print("${PROBE_PREFIX} import.%s=%s" % (name, found))`;

export function probeScript(env: Environment): string {
  return [
    '#!/bin/bash -l',
    '# Written by `slurm-kernels doctor`: what would our gateway find in this environment?',
    // Whatever happens, the job then stays until the doctor cancels it: the doctor checks ssh to
    // this node meanwhile (sites with pam_slurm_adopt let users in only while they have a job there).
    `trap 'echo "${PROBE_PREFIX} exit=$?"; sleep 300' EXIT`,
    `echo "${PROBE_PREFIX} host=$(hostname)"`,
    ...environmentLines(env),
    // The job script chooses its gateway by these commands.
    'for sk_command in jupyter jupyter-kernelgateway jupyter-server; do',
    `    echo "${PROBE_PREFIX} command.$sk_command=$(command -v "$sk_command")"`,
    'done',
    `python3 - <<'PY'`,
    PYTHON_PROBE,
    'PY',
    ''
  ].join('\n');
}

export interface IProbeOutput {
  /** key=value lines of the probe, e.g. host, exit, import.ipykernel, command.jupyter. */
  values: Map<string, string>;
  /** The job's other lines (its errors, the profile's output). */
  otherLines: string[];
}

export function parseProbeOutput(text: string): IProbeOutput {
  const values = new Map<string, string>();
  const otherLines: string[] = [];
  for (const line of text.split('\n')) {
    const probe = new RegExp(`^${PROBE_PREFIX} ([\\w.-]+)=(.*)$`).exec(line);
    if (probe) {
      values.set(probe[1], probe[2].trim());
    } else if (line.trim()) {
      otherLines.push(line.trim());
    }
  }
  return { values, otherLines };
}

/** Whether the probe has said everything it will say (its EXIT trap ran). */
export function probeFinished(text: string): boolean {
  return parseProbeOutput(text).values.has('exit');
}

/** The version of a package the probe imported, or null when it is missing. */
function imported(probe: IProbeOutput, name: string): string | null {
  const found = probe.values.get(`import.${name}`);
  return found && !found.startsWith('missing') ? found : null;
}

function hasCommand(probe: IProbeOutput, command: string): boolean {
  return Boolean(probe.values.get(`command.${command}`));
}

export interface IPresetUnderTest {
  name: string;
  env: Environment;
}

/**
 * What the probe's output means for a preset: Kernel Gateway (or, as the job script falls back,
 * Jupyter Server) and ipykernel in the environment, found as the job script looks for them.
 */
export function judgeProbe(
  preset: IPresetUnderTest,
  probe: IProbeOutput
): ICheckResult {
  const check = `test job ${preset.name}`;
  const node = probe.values.get('host') ?? 'the node';
  const where = `in preset ${preset.name} on ${node}`;
  const setupFailure = judgeSetup(check, preset, probe, node);
  if (setupFailure) {
    return setupFailure;
  }
  if (!probe.values.has('python')) {
    return fail(
      check,
      `no python3 ${where}: ${lastLines(probe)}`,
      `give the preset an environment with Python 3, e.g. a venv: python3 -m venv DIR && DIR/bin/pip install jupyter_kernel_gateway ipykernel`
    );
  }
  const found = foundPackages(probe);
  if (found.gateway && found.ipykernel) {
    return ok(
      check,
      `Kernel Gateway ${found.gateway} and ipykernel ${found.ipykernel} importable ${where}`
    );
  }
  const packages = [
    ...(found.gateway ? [] : ['jupyter_kernel_gateway']),
    ...(found.ipykernel ? [] : ['ipykernel'])
  ];
  const install = `pip install ${packages.join(' ')} into ${describeEnvironment(preset)}`;
  if (!found.gateway && found.server && found.ipykernel) {
    // The job script starts `jupyter server` where Kernel Gateway is missing: kernels work.
    return warn(
      check,
      `Kernel Gateway missing ${where} (${missingGateway(probe)}); jobs fall back to \`jupyter server\` ${found.server}, with ipykernel ${found.ipykernel}`,
      `${install} (until then jobs run \`jupyter server\`, the fallback)`
    );
  }
  const missing = [
    ...(found.gateway ? [] : [`Kernel Gateway (${missingGateway(probe)})`]),
    ...(found.ipykernel
      ? []
      : [`ipykernel (${importProblem(probe, 'ipykernel')})`])
  ];
  return fail(
    check,
    `missing ${where}: ${missing.join(', ')}${fallbackNote(found)}`,
    install
  );
}

interface IFoundPackages {
  /** Versions, null where missing; a gateway counts where the job script would start it. */
  gateway: string | null;
  server: string | null;
  ipykernel: string | null;
}

function foundPackages(probe: IProbeOutput): IFoundPackages {
  const runnable = (command: string) =>
    hasCommand(probe, 'jupyter') && hasCommand(probe, command);
  return {
    gateway: runnable('jupyter-kernelgateway')
      ? imported(probe, 'kernel_gateway')
      : null,
    server: runnable('jupyter-server')
      ? imported(probe, 'jupyter_server')
      : null,
    ipykernel: imported(probe, 'ipykernel')
  };
}

/** Where Kernel Gateway is missing, what the fallback can (not) do. */
function fallbackNote(found: IFoundPackages): string {
  if (found.gateway) {
    return '';
  }
  return found.server
    ? `; \`jupyter server\` ${found.server}, the fallback where only Kernel Gateway is missing, needs ipykernel too`
    : '; jupyter_server, the fallback where only Kernel Gateway is missing, is not there either';
}

function missingGateway(probe: IProbeOutput): string {
  return imported(probe, 'kernel_gateway')
    ? 'no jupyter-kernelgateway command on PATH'
    : importProblem(probe, 'kernel_gateway');
}

/** Python's words for a failed import, e.g. "No module named 'ipykernel'". */
function importProblem(probe: IProbeOutput, name: string): string {
  const found = probe.values.get(`import.${name}`) ?? '';
  return found.replace(/^missing \w+: /, '') || `import ${name} fails`;
}

/** A failed `module load`, `conda activate` or venv activation: the job stopped there. */
function judgeSetup(
  check: string,
  preset: IPresetUnderTest,
  probe: IProbeOutput,
  node: string
): ICheckResult | null {
  const step = SETUP_STEPS[Number(probe.values.get('exit'))];
  if (!step || probe.values.has('python')) {
    return null;
  }
  const env = preset.env;
  const what = {
    module: `\`module load ${env.modules.join(' ')}\` failed`,
    conda: `\`conda activate ${env.conda}\` failed`,
    venv: `the venv ${env.venv} cannot be activated`
  }[step];
  const fix = {
    module:
      'check the module names with `module avail` on a compute node and fix the preset',
    conda:
      'check `conda env list` on a compute node (and that conda is set up in the login shell there) and fix the preset',
    venv: `create it where the nodes see it (python3 -m venv ${env.venv} && ${env.venv}/bin/pip install jupyter_kernel_gateway ipykernel) or fix the preset's venv path`
  }[step];
  return fail(
    check,
    `${what} in preset ${preset.name} on ${node}: ${lastLines(probe)}`,
    fix
  );
}

function describeEnvironment(preset: IPresetUnderTest): string {
  const { venv, conda } = preset.env;
  if (venv) {
    return venv;
  }
  return conda
    ? `the conda environment ${conda}`
    : `preset ${preset.name}'s environment`;
}

/**
 * The job's own last words (an error message) for the report line, without the prefix bash gives
 * them in a batch script ("/var/spool/slurmd/job00042/slurm_script: line 5: ").
 */
export function lastLines(probe: IProbeOutput, none = 'no message'): string {
  const words = probe.otherLines
    .slice(-2)
    .map(line => line.replace(/^\S*\/slurm_script: line \d+: /, ''));
  return words.join(' / ') || none;
}
