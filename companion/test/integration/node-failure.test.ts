/**
 * Faults of the job itself: its gateway crashes (killed by its pid on the node), or Slurm loses its
 * node (`scontrol update state=down`). A crash ends the allocation with the final state and the job
 * log's tail, its kernelspecs go, and the same request is ready again in one step (what Relaunch
 * sends). A lost node requeues the job: its kernels are gone, the allocation waits, and the next
 * run offers the same kernels again.
 */
import type { Allocation } from '../../../src/api/allocation';
import { currentOf, notebookOn as openNotebook, useLabSide } from './setup';

/** A notebook session with a cell run; the test's own connection closed again. */
async function notebookOn(allocation: Allocation, name: string) {
  const { session, channel } = await openNotebook(lab, allocation, name);
  channel.close();
  return session;
}
import {
  cancelLeftoverJobs,
  injectFault,
  liveJobsOfOurs,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(300_000);
requireTestUser();
const lab = useLabSide();
let downed: string | null = null;

afterAll(async () => {
  if (downed) {
    await injectFault('node', downed, 'resume');
  }
  await cancelLeftoverJobs();
});

it('ends the allocation when its gateway crashes, with the final state and log tail; the same request is ready again', async () => {
  const allocation = await lab.harness.requestGpu();
  const session = await notebookOn(allocation, 'crash');
  const { pid } = lab.harness.rendezvousOf(allocation.id);
  process.kill(pid, 'SIGKILL'); // same user, same pid namespace on the testbed
  await waitFor(
    'the allocation ended',
    async () => (await currentOf(lab, allocation)).state === 'ended',
    60_000
  );
  const ended = await currentOf(lab, allocation);
  expect(ended.outcome?.state).toBe('FAILED');
  expect(ended.outcome?.exitCode).toBe('137:0');
  // The log's tail comes with an end the user did not ask for.
  expect(ended.outcome?.message).toMatch(
    /^The job failed\. Exit code 137:0\.[\s\S]*The job's last lines:[\s\S]*Killed\s.*jupyter kernelgateway/
  );
  expect(ended.kernelspecs).toEqual([]);
  expect(lab.harness.kernelspecNames()).toEqual([]);
  expect(await liveJobsOfOurs()).toEqual([]);

  // Relaunch: the same request, ready with kernels of the same remote names.
  const again = await lab.harness.request([
    '-p',
    ended.request.partition,
    '--gres',
    ended.request.gres as string,
    '-t',
    ended.request.time,
    '--wait'
  ]);
  expect(again.state).toBe('ready');
  expect(again.kernelspecs.map(k => k.name.replace(/^slurm-\d+-/, ''))).toEqual(
    allocation.kernelspecs.map(k => k.name.replace(/^slurm-\d+-/, ''))
  );
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', again.id]);
  await waitFor(
    'the relaunch cancelled',
    async () => (await liveJobsOfOurs()).length === 0,
    60_000
  );
});

it('waits through a requeue when Slurm loses the node, and offers the kernels of the next run', async () => {
  const allocation = await lab.harness.requestGpu();
  await notebookOn(allocation, 'node-down');
  downed = allocation.node as string;
  await injectFault('node', downed, 'down');
  // Slurm requeues the batch job (JobRequeue=1): pending again, its kernels gone.
  await waitFor(
    'the allocation back in the queue',
    async () => (await currentOf(lab, allocation)).state === 'pending',
    60_000
  );
  const waiting = await currentOf(lab, allocation);
  expect(waiting.kernelspecs).toEqual([]);
  expect(waiting.jobId).toBe(allocation.jobId);
  expect(lab.harness.kernelspecNames()).toEqual([]);
  // The other node takes it, or the same one once it is back (its slurmd registers again).
  await injectFault('node', downed, 'resume');
  downed = null;
  await waitFor(
    'the next run ready',
    async () => (await currentOf(lab, allocation)).state === 'ready',
    180_000,
    2_000
  );
  const ready = await currentOf(lab, allocation);
  expect(ready.kernelspecs.map(k => k.name).sort()).toEqual(
    allocation.kernelspecs.map(k => k.name).sort()
  );
  expect(lab.harness.kernelspecNames().sort()).toEqual(
    allocation.kernelspecs.map(k => k.name).sort()
  );
  // A notebook's kernel of the same name starts in the new run.
  const session = await notebookOn(ready, 'node-down-again');
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  expect(await liveJobsOfOurs()).toEqual([allocation.jobId]);
});
