/**
 * A job that cannot start its gateway tells the user why, with the job's own last lines, and leaves
 * nothing behind.
 */
import { Harness } from './harness';
import { listJobs, LocalRunner } from '../../src/slurm';
import { requireTestUser, waitFor } from './testbed';

jest.setTimeout(120_000);
const SITE_ENV = '/opt/slurm-kernels/site-env';
requireTestUser();
const harness = new Harness();

beforeAll(async () => {
  // The user's own presets, next to the site's: one names an environment that does not exist.
  harness.writePresets({
    broken: { venv: '/nonexistent/env' },
    // Longer than the companion's silence limit below, but saying so as it goes.
    slow: {
      venv: SITE_ENV,
      init: ['for i in $(seq 1 12); do echo "loading $i"; sleep 1; done']
    },
    stalled: { venv: SITE_ENV, init: ['sleep 25'] }
  });
  harness.env.SLURM_KERNELS_STARTUP_SILENCE_S = '8';
  await harness.startCompanion();
});

afterAll(async () => {
  await harness.cancelEverything().catch(() => undefined);
  await harness.stop();
});

/** `slurm-kernels request -p cpu -t 5 ARGS`. */
const requestCpu = (...args: string[]) =>
  harness.cli(['request', '-p', 'cpu', '-t', '5', ...args]);

it('reports a job that failed to set up its environment, quoting its log', async () => {
  const result = await requestCpu('--env', 'broken', '--wait');
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /slurm-kernels: The job failed\. Exit code 22:0\./
  );
  expect(result.stderr).toContain("The job's last lines:");
  expect(result.stderr).toMatch(
    /\/nonexistent\/env\/bin\/activate: No such file or directory/
  );
  expect(harness.kernelspecNames()).toEqual([]);
});

it.each([
  [
    'an unknown preset',
    ['--env', 'nope'],
    'slurm-kernels: no environment preset "nope" (known: site-python, broken, slow, stalled)\n'
  ],
  [
    "an account the user does not have in Slurm's accounting, naming theirs",
    ['--account', 'biology'],
    'slurm-kernels: you have no account "biology" on this cluster (yours: chemistry, physics) (account)\n'
  ]
])('refuses %s before anything is submitted', async (_what, extra, message) => {
  const result = await requestCpu(...extra);
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(message);
  expect(await harness.list()).toHaveLength(1); // only the broken one above
});

it('waits for a job that starts slowly while it shows progress, and gives up on one that stalls', async () => {
  const slow = await requestCpu('--env', 'slow', '--wait');
  expect(slow.code).toBe(0);
  expect(slow.stdout).toMatch(/^slurm-\d+-python3\t/);
  const stalled = await requestCpu('--env', 'stalled', '--wait');
  expect(stalled.code).toBe(1);
  expect(stalled.stderr).toContain(
    'the gateway did not come up: the job showed no progress for 8 s'
  );
  // The stalled job is cancelled, not left holding its node until its walltime.
  const failed = (await harness.list()).find(a => a.state === 'failed');
  expect(failed?.outcome?.state).toBe('GATEWAY_FAILED');
  await waitFor(
    'the stalled job to leave Slurm',
    async () =>
      !(
        await listJobs(new LocalRunner(), { jobIds: [failed?.jobId as string] })
      ).some(j => j.state === 'RUNNING' || j.state === 'PENDING'),
    30_000,
    250
  );
  await harness.cancelEverything();
});
