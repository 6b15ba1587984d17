/**
 * No orphaned GPUs: a job whose companion is gone for good (killed, never started again) ends
 * itself once its dead-man's time has passed and no kernel is busy, and says why; while a companion
 * lives, the job runs on. (A busy kernel holding the job: test/unit/gateway/jobScript.test.ts.)
 */
import path from 'node:path';
import { listJobs, LocalRunner } from '../../src/slurm';
import { Harness } from './harness';
import { expectEndedByDeadMan } from './outage';
import { cancelLeftoverJobs, requireTestUser } from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const harness = new Harness();
const runner = new LocalRunner();

beforeAll(async () => {
  harness.env.SLURM_KERNELS_DEAD_MAN_S = '15';
  await harness.startCompanion();
});

afterAll(async () => {
  await harness.cancelAll();
  await harness.stop();
  await cancelLeftoverJobs();
});

const stateOf = async (jobId: string) =>
  (await listJobs(runner, { jobIds: [jobId] }))[0]?.state;

it("ends a job whose companion is gone once its dead-man's time has passed, saying why", async () => {
  const allocation = await harness.request(['-p', 'cpu', '-t', '10', '--wait']);
  const jobId = allocation.jobId as string;
  // Twice the dead-man's time with a companion: it keeps the job.
  await new Promise(resolve => setTimeout(resolve, 30_000));
  expect(await stateOf(jobId)).toBe('RUNNING');

  process.kill(harness.companionPid as number, 'SIGKILL');
  await expectEndedByDeadMan(
    jobId,
    path.join(harness.allocationDir(allocation.id), 'job.log'),
    15
  );
  // The next companion (started by the CLI) tells the user what happened.
  const [ended] = await harness.list();
  expect(ended).toMatchObject({
    id: allocation.id,
    state: 'ended',
    outcome: {
      state: 'FAILED',
      message: expect.stringContaining("its dead-man's switch")
    }
  });
});
