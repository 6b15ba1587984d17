/**
 * A companion started on demand (here by the CLI; a kernel shim starts one the same way) serves
 * while an allocation is not over, and stops by itself 10 s after nothing is left for it to do: on
 * a shared login node it must not stay for good.
 */
import { Harness, isRunning } from './harness';
import { requireTestUser, waitFor } from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const harness = new Harness();

afterAll(async () => {
  await harness.cancelAll();
  await harness.stop();
});

it('stays while an allocation runs, and stops once nothing is left to do', async () => {
  const a = await harness.request(['-p', 'cpu', '-t', '5', '--wait']);
  const pid = (await harness.servingPid()) as number;
  expect(pid).toBeGreaterThan(0);
  // Nobody connected for longer than the idle time, but the allocation runs: it stays.
  await new Promise(resolve => setTimeout(resolve, 15_000));
  expect(await harness.servingPid()).toBe(pid);

  const cancelled = await harness.cli(['cancel', a.id]);
  expect(cancelled.code).toBe(0);
  await waitFor(
    'the companion to stop by itself',
    async () => !isRunning(pid),
    60_000,
    500
  );
  expect(await harness.servingPid()).toBeUndefined();
});
