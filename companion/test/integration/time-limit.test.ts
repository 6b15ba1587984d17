/**
 * The way most allocations end: the job reaches its time limit. The companion notices at once (the
 * kernel's websocket drops), the kernelspec goes, and the allocation records Slurm's TIMEOUT. The
 * notebook's kernel stays and says why at the next cell: Jupyter restarts nothing.
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
  // The kernel stays, retired: a cell gets why as its error, as many times as it is run.
  const after = await server.connect(session.kernel.id);
  try {
    for (let run = 0; run < 2; run++) {
      const result = await after.execute('print(1)');
      expect(result.reply).toMatchObject({
        status: 'error',
        ename: 'AllocationEnded'
      });
      expect(result.reply.evalue).toMatch(
        new RegExp(
          `^Allocation ${allocation.id} \\(job ${allocation.jobId} on node\\d\\) has ended: The job reached its time limit\\..*relaunch it from the GPU kernel panel`
        )
      );
      expect(
        result.messages.some(
          m => m.msgType === 'error' && m.content.ename === 'AllocationEnded'
        )
      ).toBe(true);
    }
  } finally {
    after.close();
  }
  expect(server.output).not.toMatch(
    /restarting kernel|KernelRestarter: restarting/i
  );
  const kernels = await server.json('GET', '/api/kernels');
  expect(kernels.map((k: { id: string }) => k.id)).toEqual([session.kernel.id]);
  // Shut down by Jupyter, the retired kernel goes: its shim exits.
  await server.request('DELETE', `/api/sessions/${session.id}`);
  expect(await server.json('GET', '/api/kernels')).toEqual([]);
});
