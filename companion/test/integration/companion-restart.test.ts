/**
 * Fault: the companion is killed (kill -9) while a cell runs. The kernel's shim starts a new one,
 * which re-adopts the allocation from the state dir, reconnects to its gateway and reattaches the
 * shim to the same remote kernel: the notebook keeps its kernel and its variables, the output
 * printed meanwhile arrives in order, once; no job, kernelspec or companion is duplicated or left.
 */
import type { Allocation } from '../../../src/api/allocation';
import { useLabSide } from './setup';
import {
  cancelLeftoverJobs,
  liveJobsOfOurs,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const lab = useLabSide();
let allocation: Allocation;

beforeAll(async () => {
  allocation = await lab.harness.requestGpu();
});

afterAll(() => cancelLeftoverJobs());

it('keeps the kernel, its variables and the output of the gap when the companion is killed mid-cell', async () => {
  const specName = `slurm-${allocation.jobId}-python3`;
  const session = await lab.server.json('POST', '/api/sessions', {
    path: 'restart.ipynb',
    name: 'restart.ipynb',
    type: 'notebook',
    kernel: { name: specName }
  });
  const kernelId = session.kernel.id;
  const channel = await lab.server.connect(kernelId);
  try {
    await channel.execute('x = 41');
    const killed = lab.harness.companionPid as number;
    // Killed while the cell sleeps between two prints: nothing is in flight through the companion
    // (what a relay killed mid-message held is lost with it); everything after is printed while
    // no companion runs, and must arrive through the next one.
    const running = channel.execute(
      [
        'import time',
        "print('tick', 0, flush=True)",
        'time.sleep(2.5)',
        'for i in range(1, 8):',
        "    print('tick', i, flush=True)",
        '    time.sleep(0.5)',
        'x += 1'
      ].join('\n'),
      { timeoutMs: 60_000 }
    );
    await new Promise(resolve => setTimeout(resolve, 1_200));
    process.kill(killed, 'SIGKILL');
    const done = await running;
    expect(done.reply.status).toBe('ok');
    expect(done.stdout).toBe(
      [...Array(8).keys()].map(i => `tick ${i}\n`).join('')
    );
    expect((await channel.execute('print(x)')).stdout).toBe('42\n');
    // A new companion serves, started by the shim; the lab's kernel is the same one, not restarted.
    const serving = await lab.harness.servingPid();
    expect(serving).toBeDefined();
    expect(serving).not.toBe(killed);
    expect(lab.server.output).toMatch(
      /slurm-kernels: reattached to kernel \S+ on node\d/
    );
    expect(lab.server.output).not.toMatch(
      /restarting kernel|KernelRestarter: restarting/i
    );
    const kernels = await lab.server.json('GET', '/api/kernels');
    expect(kernels.map((k: { id: string }) => k.id)).toEqual([kernelId]);
  } finally {
    channel.close();
  }
  // One allocation, one job, its kernelspecs once: nothing duplicated by the re-adoption.
  await waitFor(
    'the allocation ready again',
    async () => (await lab.harness.list())[0]?.state === 'ready',
    30_000
  );
  const listed = await lab.harness.list();
  expect(listed.map(a => [a.id, a.jobId])).toEqual([
    [allocation.id, allocation.jobId]
  ]);
  expect(await liveJobsOfOurs()).toEqual([allocation.jobId]);
  expect(lab.harness.kernelspecNames().sort()).toEqual(
    allocation.kernelspecs.map(k => k.name).sort()
  );
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
});
