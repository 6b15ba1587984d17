/**
 * The second day on a real cluster, where $HOME is shared by the login and compute nodes: the user's
 * own Jupyter data dir holds yesterday's published kernelspecs and a kernelspec the user registered
 * themselves, ~/.jupyter holds settings of their own, and the companion was started from an
 * environment (a lab's, a hub's) that must not leak into jobs. Several allocations at once, named
 * by the job ids people copy from squeue.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { Harness } from './harness';
import { JupyterServer } from './jupyter';
import { requireTestUser, waitFor } from './testbed';

jest.setTimeout(240_000);

requireTestUser();
const harness = new Harness();
const tag = randomBytes(3).toString('hex');
/** The user's own Jupyter data dir, which the jobs' gateways see too. */
const dataDir = path.join(os.homedir(), '.local', 'share', 'jupyter');
const ownSpec = `sk-itest-own-${tag}`;
const ownSpecDir = path.join(dataDir, 'kernels', ownSpec);
/** A Jupyter config of the user's that would break a gateway reading it. */
const userConfig = path.join(os.homedir(), '.jupyter', 'jupyter_config.py');
let wroteUserConfig = false;
/** Notebooks outside $HOME, as in /scratch. */
const scratch = mkdtempSync(path.join('/tmp', `sk-itest-scratch-${tag}-`));
let server: JupyterServer;
let first: Allocation;
let second: Allocation;

function publishedNames(a: Allocation): string[] {
  return a.kernelspecs.map(k => k.name).sort();
}

beforeAll(async () => {
  mkdirSync(ownSpecDir, { recursive: true });
  writeFileSync(
    path.join(ownSpecDir, 'kernel.json'),
    JSON.stringify({
      argv: [
        '/opt/slurm-kernels/site-env/bin/python',
        '-m',
        'ipykernel_launcher',
        '-f',
        '{connection_file}'
      ],
      display_name: `My own env ${tag}`,
      language: 'python'
    })
  );
  if (!existsSync(userConfig)) {
    mkdirSync(path.dirname(userConfig), { recursive: true });
    writeFileSync(
      userConfig,
      "c.ServerApp.base_url = '/broken/'\nc.KernelGatewayApp.base_url = '/broken/'\n"
    );
    wroteUserConfig = true;
  }
  Object.assign(harness.env, {
    JUPYTER_DATA_DIR: dataDir,
    // What a lab or a hub has in its environment, and a job must not inherit.
    JUPYTERHUB_API_TOKEN: `hub-secret-${tag}`,
    PYTHONPATH: `/nonexistent/lab-only-${tag}`,
    SK_ITEST_LAB_ONLY: tag,
    // And what would change what Slurm's commands print.
    SQUEUE_FORMAT: '%i',
    SLURM_TIME_FORMAT: 'relative'
  });
  await harness.startCompanion();
  server = await JupyterServer.start(harness.env, scratch);
  first = await harness.request(['-p', 'cpu', '-t', '20', '--wait']);
  second = await harness.requestGpu();
});

afterAll(async () => {
  await harness.cancelAll();
  await server?.stop();
  await harness.stop();
  rmSync(ownSpecDir, { recursive: true, force: true });
  if (wroteUserConfig) {
    rmSync(userConfig, { force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

describe('a shared home, the second day', () => {
  it("offers each environment's kernelspecs and the user's own once, never one it published itself", () => {
    for (const a of [first, second]) {
      expect(publishedNames(a)).toEqual(
        [`slurm-${a.jobId}-python3`, `slurm-${a.jobId}-${ownSpec}`].sort()
      );
    }
    const ours = readdirSync(path.join(dataDir, 'kernels')).filter(n =>
      n.startsWith('slurm-')
    );
    expect(ours.filter(n => /^slurm-\d+-slurm-/.test(n))).toEqual([]);
  });

  it("runs the user's own kernelspec on the node, in the notebook's directory outside $HOME, without the lab's environment, its history on the node", async () => {
    mkdirSync(path.join(scratch, 'run1'), { recursive: true });
    const session = await server.json('POST', '/api/sessions', {
      path: 'run1/analysis.ipynb',
      name: 'analysis.ipynb',
      type: 'notebook',
      kernel: { name: `slurm-${second.jobId}-${ownSpec}` }
    });
    const channel = await server.connect(session.kernel.id);
    try {
      const { stdout, reply } = await channel.execute(
        [
          'import os, socket, sys',
          "print(socket.gethostname(), os.environ.get('SLURM_JOB_ID'), sys.executable)",
          'print(os.getcwd())',
          "print([n for n in ('JUPYTERHUB_API_TOKEN', 'PYTHONPATH', 'SK_ITEST_LAB_ONLY') if n in os.environ])",
          'print(get_ipython().history_manager.hist_file)'
        ].join('\n')
      );
      expect(reply.status).toBe('ok');
      const [where, cwd, leaked, history] = stdout.trim().split('\n');
      expect(where).toBe(
        `${second.node} ${second.jobId} /opt/slurm-kernels/site-env/bin/python`
      );
      expect(leaked).toBe('[]');
      // Not one sqlite file in the shared home, written by kernels on many nodes at once.
      expect(history).toBe(
        `/tmp/slurm-kernels-${second.jobId}/ipython-history.sqlite`
      );
      expect(cwd).toBe(path.join(scratch, 'run1'));
    } finally {
      channel.close();
      await server.request('DELETE', `/api/sessions/${session.id}`);
    }
  });

  it('lists, logs and cancels an allocation by the job id squeue shows', async () => {
    const jobId = first.jobId as string;
    const log = await harness.cli(['log', jobId]);
    expect(log.code).toBe(0);
    expect(log.stdout).toContain(`slurm-kernels: job ${jobId} on`);
    const cancelled = await harness.cli(['cancel', jobId]);
    expect(cancelled).toMatchObject({ code: 0 });
    expect(cancelled.stderr).toContain(`cancelling job ${jobId}`);
    const ended = await waitFor(
      'the first allocation to end',
      async () =>
        (await harness.list()).find(
          a => a.id === first.id && a.state === 'ended'
        ),
      60_000,
      250
    );
    expect(ended.outcome?.state).toBe('CANCELLED');
    // The other allocation is untouched, and the list still parses with the user's SQUEUE_FORMAT.
    expect((await harness.list()).find(a => a.id === second.id)?.state).toBe(
      'ready'
    );
    expect(
      harness.kernelspecNames().filter(n => n.startsWith(`slurm-${jobId}-`))
    ).toEqual([]);
    const unknown = await harness.cli(['cancel', '999999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no allocation or job 999999');
  });
});
