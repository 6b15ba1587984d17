/**
 * The installed wheel, end to end on the testbed, as the test user (dev/test-wheel.sh): the
 * `slurm-kernels` console script (SLURM_KERNELS_CLI) starts the bundled companion on demand and
 * requests a GPU allocation; its kernelspec appears; a cell runs on the compute node through a
 * Jupyter Server from the wheel's environment (SLURM_KERNELS_LAB_ENV); cancel removes the
 * kernelspec. SLURM_KERNELS_EXPECT_NODE is the Node.js the console script must have picked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { cancelJob, listJobs, LocalRunner } from '../../src/slurm';
import { CLI, Harness } from '../integration/harness';
import { JupyterServer, LAB_ENV } from '../integration/jupyter';
import { requireTestUser, waitFor } from '../integration/testbed';

jest.setTimeout(180_000);

const EXPECT_NODE = process.env.SLURM_KERNELS_EXPECT_NODE;
if (!CLI || !EXPECT_NODE) {
  throw new Error(
    'run by dev/test-wheel.sh: SLURM_KERNELS_CLI and SLURM_KERNELS_EXPECT_NODE must be set'
  );
}
const user = requireTestUser();
const harness = new Harness();
const runner = new LocalRunner();
let server: JupyterServer;
let allocation: Allocation;
let specName: string;
let sessionId: string | undefined;

/** The companions of this harness (started by the console script, detached): pid and argv. */
function companions(): { pid: number; args: string }[] {
  return execFileSync('ps', ['-u', user, '-o', 'pid=,args='], {
    encoding: 'utf8'
  })
    .split('\n')
    .map(line => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(m => ({ pid: Number(m[1]), args: m[2] }))
    .filter(p => p.args.includes(` serve --socket ${harness.socket}`));
}

beforeAll(async () => {
  const notebooks = path.join(harness.dir, 'notebooks');
  mkdirSync(notebooks);
  server = await JupyterServer.start(harness.env, notebooks);
});

afterAll(async () => {
  if (sessionId) {
    await server
      ?.request('DELETE', `/api/sessions/${sessionId}`)
      .catch(() => undefined);
  }
  await harness.cancelEverything().catch(() => undefined);
  const left = await listJobs(runner, { user });
  for (const job of left.filter(
    j =>
      j.comment.startsWith('slurm-kernels') &&
      /^(PENDING|RUNNING)$/.test(j.state)
  )) {
    await cancelJob(runner, job.id);
  }
  for (const { pid } of companions()) {
    process.kill(pid, 'SIGTERM');
  }
  await waitFor('the companion to stop', async () => !companions().length);
  await server?.stop();
  await harness.stop();
});

describe('the installed wheel', () => {
  it('runs the bundled companion with the Node.js it should find', async () => {
    const version = await harness.cli(['version']);
    expect(version.code).toBe(0);
    const [own, node] = version.stdout.trim().split('\n');
    expect(own).toMatch(/^slurm-kernels \d+\.\d+\.\d+/);
    expect(node).toMatch(/^node v\d+\.\d+\.\d+ /);
    expect(node.split(' ').slice(2).join(' ')).toBe(EXPECT_NODE);
    // Usage errors keep their exit code through the console script.
    expect((await harness.cli(['no-such-command'])).code).toBe(2);
  });

  it('requests a GPU allocation through the console script; its kernelspec appears', async () => {
    const started = Date.now();
    allocation = await harness.request(
      '-p gpu --gres gpu:1 -t 10 --wait'.split(' ')
    );
    const took = Date.now() - started;
    specName = `slurm-${allocation.jobId}-python3`;
    expect(allocation.state).toBe('ready');
    expect(harness.kernelspecNames()).toContain(specName);
    process.stdout.write(
      `wheel: request → kernelspec ${specName} in ${(took / 1000).toFixed(1)} s (companion started on demand)\n`
    );

    // The companion the console script started on demand: the bundle, under the expected Node.
    const [companion] = companions();
    expect(companion?.args).toContain(
      path.join('jupyterlab_slurm_kernels', 'companion', 'main.js')
    );
    expect(realpathSync(`/proc/${companion.pid}/exe`)).toBe(
      realpathSync(EXPECT_NODE)
    );
    // The kernelspec runs the bundled shim with the same Node.
    const { argv } = JSON.parse(
      readFileSync(
        path.join(harness.kernelsDir, specName, 'kernel.json'),
        'utf8'
      )
    );
    expect(argv[0]).toBe(realpathSync(`/proc/${companion.pid}/exe`));
    expect(argv[1]).toBe(
      path.join(path.dirname(companion.args.split(' ')[1]), 'shim', 'main.js')
    );
  });

  it('runs a cell on the compute node, inside the job, through a Jupyter Server from the wheel env', async () => {
    const { kernelspecs } = await server.json('GET', '/api/kernelspecs');
    expect(Object.keys(kernelspecs)).toContain(specName);
    const session = await server.json('POST', '/api/sessions', {
      path: 'wheel.ipynb',
      name: 'wheel.ipynb',
      type: 'notebook',
      kernel: { name: specName }
    });
    sessionId = session.id;
    const channel = await server.connect(session.kernel.id);
    try {
      const { stdout, reply } = await channel.execute(
        "import os, socket; print(socket.gethostname(), os.environ.get('SLURM_JOB_ID'))"
      );
      expect(reply.status).toBe('ok');
      expect(stdout.trim().split(' ')).toEqual([
        allocation.node,
        allocation.jobId
      ]);
    } finally {
      channel.close();
    }
    expect(server.output).not.toContain('Traceback');
    expect(LAB_ENV).toBe(process.env.SLURM_KERNELS_LAB_ENV);
  });

  it('cancel ends the job and removes the kernelspec', async () => {
    await server.request('DELETE', `/api/sessions/${sessionId}`);
    sessionId = undefined;
    const cancelled = await harness.cli(['cancel', allocation.id]);
    expect(cancelled.code).toBe(0);
    await waitFor(
      'the kernelspec to go',
      async () => !harness.kernelspecNames().includes(specName),
      60_000,
      250
    );
    await waitFor(
      'the job to end',
      async () =>
        !(await listJobs(runner, { user })).some(
          j => j.id === allocation.jobId && /^(PENDING|RUNNING)$/.test(j.state)
        ),
      60_000,
      250
    );
  });
});
