/**
 * `slurm-kernels doctor` on the real testbed, as the test user: the good cluster, presets whose
 * environment lacks what the gateway needs, a node missing from known_hosts, a node that takes
 * hostbased logins only (the user's OpenSSH reaches it), no Slurm on PATH.
 * Nothing here stops a daemon or touches another test's jobs: only the doctor's own test jobs are
 * looked at (and cancelled, should one be left).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cancelJob, listJobs, LocalRunner } from '../../src/slurm';
import { Harness, ICliResult } from './harness';
import { LAB_ENV } from './jupyter';
import { requireTestUser } from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const SERVER_ONLY_ENV = '/opt/slurm-kernels/server-only-env';
/** One test job, in the site's preset, on the gpu partition. */
const SITE_PYTHON_ON_GPU = ['--submit', '--env', 'site-python', '-p', 'gpu'];
const runner = new LocalRunner();
let harness: Harness;
let submitted: string[] = [];

beforeEach(() => {
  harness = new Harness();
  submitted = [];
});

afterEach(async () => {
  // Should the doctor have left one of its jobs, it goes; other tests' jobs are not ours to touch.
  for (const job of await listJobs(runner, { jobIds: submitted })) {
    if (/^(PENDING|RUNNING)$/.test(job.state)) {
      await cancelJob(runner, job.id);
    }
  }
  await harness.stop();
});

/** Runs the doctor and remembers the test jobs it says it submitted. */
async function doctor(args: string[]): Promise<ICliResult> {
  const result = await harness.cli(['doctor', ...args], 200_000);
  for (const m of result.stderr.matchAll(/submitted test job (\d+)/g)) {
    submitted.push(m[1]);
  }
  return result;
}

/** The report's line of one check, and the fix line under it (if any). */
function lineOf(
  result: ICliResult,
  check: string
): { line: string; fix: string | undefined } {
  const lines = result.stdout.split('\n');
  const at = lines.findIndex(l =>
    new RegExp(`^(OK|WARN|FAIL|SKIP)\\s+${check}\\s{2}`).test(l)
  );
  if (at < 0) {
    throw new Error(`no "${check}" line in:\n${result.stdout}${result.stderr}`);
  }
  const next = lines[at + 1]?.trim() ?? '';
  return {
    line: lines[at],
    fix: next.startsWith('fix: ') ? next.slice(5) : undefined
  };
}

/** None of the doctor's jobs pends or runs any more. */
async function expectNoJobLeft(): Promise<void> {
  expect(submitted.length).toBeGreaterThan(0);
  const left = (await listJobs(runner, { jobIds: submitted })).filter(j =>
    /^(PENDING|CONFIGURING|RUNNING|COMPLETING)$/.test(j.state)
  );
  expect(left).toEqual([]);
  expect(harness.kernelspecNames()).toEqual([]);
  const doctorDir = path.join(
    harness.env.XDG_STATE_HOME as string,
    'slurm-kernels',
    'doctor'
  );
  expect(existsSync(doctorDir) ? readdirSync(doctorDir) : []).toEqual([]);
}

/** The doctor reaches nodes as this ssh config says (SLURM_KERNELS_SSH_CONFIG, as ssh -F). */
function useSshConfig(text: string): void {
  const config = path.join(harness.dir, 'ssh_config');
  writeFileSync(config, text);
  harness.env.SLURM_KERNELS_SSH_CONFIG = config;
}

/**
 * Runs the doctor with a site-python test job whose node ssh cannot reach: its node, that node's
 * ssh and srun relay lines. Warnings only (exit 0): the companion reaches the node through the
 * relay instead.
 */
async function doctorReachOfTestJob(): Promise<{
  node: string | undefined;
  sshLine: { line: string; fix: string | undefined };
  relayLine: { line: string; fix: string | undefined };
}> {
  const result = await doctor(SITE_PYTHON_ON_GPU);
  expect(result.code).toBe(0);
  const node = /on (node\d)$/.exec(
    lineOf(result, 'test job site-python').line
  )?.[1];
  return {
    node,
    sshLine: lineOf(result, `ssh ${node}`),
    relayLine: lineOf(result, `srun relay ${node}`)
  };
}

it('finds everything ready on the testbed: a test job on gpu and ssh to its node, then no job left', async () => {
  const result = await doctor(SITE_PYTHON_ON_GPU);
  expect(result.code).toBe(0);
  const lines = result.stdout.trim().split('\n');
  expect(lines.pop()).toBe('Everything checked is ready.');
  expect(lines.filter(l => !l.startsWith('OK  '))).toEqual([]);
  expect(lineOf(result, 'slurm commands').line).toMatch(
    /sbatch, squeue, sinfo, scontrol, scancel, sacct, sacctmgr in \/usr\/bin; slurm-wlm 22\.05/
  );
  expect(lineOf(result, 'partitions').line).toMatch(
    /cpu \(default\): node1, node2; GPUs tesla ×4 .*; gpu: node1, node2; GPUs tesla ×4/
  );
  expect(lineOf(result, 'accounting').line).toMatch(
    /accounts chemistry, physics; QOS debug, normal$/
  );
  expect(lineOf(result, 'jupyterlab').line).toMatch(
    /JupyterLab 4\.6\.\d+; jupyterlab-slurm-kernels v\S+ enabled$/
  );
  expect(lineOf(result, 'server extensions').line).toMatch(
    /jupyterlab_slurm_kernels v\S+ enabled; jupyter_server_proxy v\S+ enabled$/
  );
  const job = lineOf(result, 'test job site-python').line;
  const node = /importable in preset site-python on (node\d)$/.exec(job)?.[1];
  expect(job).toMatch(
    /Kernel Gateway 3\.\d+\.\d+ and ipykernel \d+\.\S+ importable in preset site-python on node\d$/
  );
  expect(lineOf(result, `ssh ${node}`).line).toMatch(
    new RegExp(
      `host key of ${node} known, login as ${os.userInfo().username} with a key, port forwarding works$`
    )
  );
  expect(result.stderr).toMatch(/job \d+ \(site-python\) running on node\d/);
  await expectNoJobLeft();
});

it('--json prints the same checks as {check, status, detail, fix?}', async () => {
  const result = await doctor(['--json']);
  expect(result.code).toBe(0);
  const parsed = JSON.parse(result.stdout);
  expect(parsed.map((r: { check: string }) => r.check)).toEqual([
    'slurm commands',
    'partitions',
    'accounting',
    'kernelspec dir',
    'state dir',
    'socket dir',
    'node.js',
    'jupyterlab',
    'server extensions',
    'presets',
    'test job',
    'ssh to nodes'
  ]);
  expect(parsed[10]).toEqual({
    check: 'test job',
    status: 'skip',
    detail: 'run with --submit: a small job per preset'
  });
});

it('names what each broken preset lacks: Kernel Gateway (with the fallback), everything, the venv itself', async () => {
  const bare = path.join(harness.dir, 'bare-env');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', bare]);
  const gone = path.join(harness.dir, 'no-such-env');
  harness.writePresets({
    'server-only': { venv: SERVER_ONLY_ENV },
    bare: { venv: bare },
    gone: { venv: gone }
  });
  const result = await doctor(['--submit', '-p', 'cpu']);
  expect(result.code).toBe(1);

  const serverOnly = lineOf(result, 'test job server-only');
  expect(serverOnly.line).toMatch(
    /^WARN .* Kernel Gateway missing in preset server-only on node\d \(No module named 'kernel_gateway'\); jobs fall back to `jupyter server` 2\.\S+, with ipykernel \d+\.\S+$/
  );
  expect(serverOnly.fix).toBe(
    `pip install jupyter_kernel_gateway into ${SERVER_ONLY_ENV} (until then jobs run \`jupyter server\`, the fallback)`
  );

  const bareLine = lineOf(result, 'test job bare');
  expect(bareLine.line).toMatch(
    /^FAIL .* missing in preset bare on node\d: Kernel Gateway \(No module named 'kernel_gateway'\), ipykernel \(No module named 'ipykernel'\); jupyter_server, the fallback where only Kernel Gateway is missing, is not there either$/
  );
  expect(bareLine.fix).toBe(
    `pip install jupyter_kernel_gateway ipykernel into ${bare}`
  );

  const goneLine = lineOf(result, 'test job gone');
  expect(goneLine.line).toMatch(/^FAIL /);
  expect(goneLine.line).toContain(
    `the venv ${gone} cannot be activated in preset gone on node`
  );
  expect(goneLine.line).toMatch(
    new RegExp(`: ${gone}/bin/activate: No such file or directory$`)
  );
  expect(goneLine.fix).toMatch(
    new RegExp(`^create it where the nodes see it \\(python3 -m venv ${gone} `)
  );

  // The site's preset still passes beside them.
  expect(lineOf(result, 'test job site-python').line).toMatch(/^OK /);
  expect(result.stdout).toMatch(/\n2 failed, 1 warning\(s\)\.\n$/);
  await expectNoJobLeft();
});

it('warns of a node missing from known_hosts, naming the node and the fix, and passes the relay to it', async () => {
  // The nodes are known only from the user's own known_hosts: nothing system-wide lists them.
  for (const file of [
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2'
  ]) {
    if (existsSync(file)) {
      expect(readFileSync(file, 'utf8')).not.toMatch(/^\S*node\d/m);
    }
  }
  // The companion reads known_hosts where the user's ssh would (ssh -G): an ssh config of the
  // test's own (SLURM_KERNELS_SSH_CONFIG, as ssh -F) points it at a copy without the nodes.
  const knownHosts = path.join(harness.dir, 'known_hosts');
  const withoutNodes = readFileSync(
    path.join(os.homedir(), '.ssh', 'known_hosts'),
    'utf8'
  )
    .split('\n')
    .filter(line => !/^\S*node\d/.test(line))
    .join('\n');
  writeFileSync(knownHosts, withoutNodes, { mode: 0o600 });
  useSshConfig(`Host node*\n    UserKnownHostsFile ${knownHosts}\n`);

  const { node, sshLine, relayLine } = await doctorReachOfTestJob();
  expect(sshLine.line).toMatch(
    new RegExp(
      `^WARN .* ${node}: ${node} is not in known_hosts.*${knownHosts}.*; the companion reaches ${node} through the srun relay instead`
    )
  );
  expect(relayLine.line).toMatch(
    new RegExp(`^OK .*a step in job \\d+ on ${node} answers through srun$`)
  );
  expect(sshLine.fix).toBe(
    `add ${node}'s host key to ~/.ssh/known_hosts (or the UserKnownHostsFile your ssh config names; \`ssh ${node} true\` once, after checking its fingerprint with the admins), or ask the admins to list the nodes in /etc/ssh/ssh_known_hosts`
  );
  await expectNoJobLeft();
});

it("passes a node that only the user's OpenSSH logs in to (hostbased), and needs no relay there", async () => {
  useSshConfig(
    'Host node*\n    HostbasedAuthentication yes\n    PubkeyAuthentication no\n'
  );
  try {
    const result = await doctor(SITE_PYTHON_ON_GPU);
    expect(result.code).toBe(0);
    const node = /on (node\d)$/.exec(
      lineOf(result, 'test job site-python').line
    )?.[1];
    expect(lineOf(result, `ssh ${node}`).line).toMatch(
      new RegExp(
        `^WARN .*PubkeyAuthentication no; the ssh config also logs in with hostbased authentication \\(ssh-keysign\\).*; the companion reaches ${node} through your OpenSSH \\(ssh -W\\) instead$`
      )
    );
    expect(lineOf(result, `openssh ${node}`).line).toMatch(
      new RegExp(
        `^OK .*your OpenSSH \\(ssh -W\\) verifies ${node}, logs in and forwards$`
      )
    );
    expect(result.stdout).not.toMatch(/srun relay/);
    await expectNoJobLeft();
  } finally {
    delete harness.env.SLURM_KERNELS_SSH_CONFIG;
  }
});

it('warns of a node whose sshd does not answer, says whom to ask, and passes the relay to it', async () => {
  // As a stopped sshd looks from the login node (refused), without stopping the testbed's: the
  // ssh config sends the companion to a port nothing listens on.
  useSshConfig('Host node*\n    Port 2222\n');
  try {
    const { node, sshLine, relayLine } = await doctorReachOfTestJob();
    expect(sshLine.line).toMatch(
      new RegExp(
        `^WARN .*${node}'s sshd does not answer \\(connection refused\\)`
      )
    );
    expect(relayLine.line).toMatch(/^OK /);
    expect(sshLine.fix).toBe(
      `the companion needs ssh from this host to the compute nodes: ask the admins whether sshd runs on ${node} and lets users with a job there in`
    );
    await expectNoJobLeft();
  } finally {
    delete harness.env.SLURM_KERNELS_SSH_CONFIG;
  }
});

it('fails without Slurm on PATH, says how to fix it, and submits nothing', async () => {
  // A PATH with node and JupyterLab's environment, but none of Slurm's commands.
  const bin = path.join(harness.dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  const onPath = `${bin}:${LAB_ENV}/bin`;
  harness.env.PATH = onPath;

  const result = await doctor(['--submit', '-p', 'gpu']);
  expect(result.code).toBe(1);
  const slurm = lineOf(result, 'slurm commands');
  expect(slurm.line).toMatch(
    new RegExp(
      `^FAIL .*not on PATH: sbatch, squeue, sinfo, scontrol, scancel \\(PATH=${onPath}\\)$`
    )
  );
  expect(slurm.fix).toBe(
    "load Slurm's module (e.g. `module load slurm`) or add the directory of Slurm's commands (often /usr/bin or /opt/slurm/bin) to PATH, where JupyterLab runs too"
  );
  expect(lineOf(result, 'test job').line).toMatch(
    /^SKIP .*not submitted: the slurm commands check failed$/
  );
  expect(result.stderr).not.toMatch(/submitted test job/);
});
