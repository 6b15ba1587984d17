/**
 * The way most allocations end: the job reaches its time limit. The companion notices at once (the
 * kernel's websocket drops), the kernel ends saying why, the kernelspec goes, and the allocation
 * records Slurm's TIMEOUT.
 */
import { useLabSide } from './setup';
import { requireTestUser, waitFor } from './testbed';

jest.setTimeout(240_000);
requireTestUser();
const side = useLabSide();

it('ends the kernel with "reached its time limit" when the job times out, and records TIMEOUT', async () => {
  const { harness, server } = side;
  const allocation = await harness.request(['-p', 'cpu', '-t', '1', '--wait']);
  const spec = `slurm-${allocation.jobId}-python3`;
  const session = await server.json('POST', '/api/sessions', {
    path: 'time-limit.ipynb',
    type: 'notebook',
    kernel: { name: spec }
  });
  const channel = await server.connect(session.kernel.id);
  expect((await channel.execute('print(6 * 7)')).stdout).toBe('42\n');
  channel.close();

  // Slurm enforces a 1-minute limit within about half a minute after it passes.
  const ended = await waitFor(
    'the allocation to end at its time limit',
    async () => {
      const mine = (await harness.list()).find(a => a.id === allocation.id);
      return mine?.state === 'ended' ? mine : undefined;
    },
    180_000,
    500
  );
  expect(ended.outcome?.state).toBe('TIMEOUT');
  expect(ended.outcome?.message).toMatch(/^The job reached its time limit\./);
  expect(harness.kernelspecNames()).not.toContain(spec);
  // The shim's last words, in the Jupyter Server's log.
  await waitFor('the kernel to say why it ended', async () =>
    /slurm-kernels: allocation \S+ \(job \d+\) ended: The job reached its time limit/.test(
      server.output
    )
  );
});
