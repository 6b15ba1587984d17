/**
 * No orphaned GPUs, on the real testbed: the job's gateway culls a kernel nobody is connected to
 * once the dead-man's time has passed (a kernel Jupyter has open stays); the companion cancels an
 * allocation the grace after its last kernel was shut down, keeping the time across its own
 * restart; and it cancels one in which no code ran for the idle limit, never while a cell runs,
 * later when the user says "keep".
 */
import type { Allocation } from '../../../src/api/allocation';
import { LocalRunner } from '../../src/slurm';
import { companionHostConfig } from '../../src/tunnel/hostConfig';
import { SshPool } from '../../src/tunnel/ssh';
import { requestJson } from '../unit/http/request';
import { currentOf, notebookOn as openNotebook, useLabSide } from './setup';
import {
  cancelLeftoverJobs,
  liveJobsOfOurs,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();
const lab = useLabSide(harness => {
  // Unconnected kernels are culled after the job's dead-man's time (companions touch it every 5 s).
  harness.env.SLURM_KERNELS_DEAD_MAN_S = '20';
});
const tunnels = new SshPool({
  hostConfig: companionHostConfig(new LocalRunner())
});

afterAll(async () => {
  tunnels.dispose();
  await cancelLeftoverJobs();
});

async function setPolicy(noKernelMinutes: number, idleMinutes: number) {
  const res = await requestJson(lab.harness.socket, 'PUT', '/api/policy', {
    noKernelMinutes,
    idleMinutes
  });
  expect(res).toEqual({
    status: 200,
    body: { noKernelMinutes, idleMinutes, gpuIdleCancelMinutes: 0 }
  });
}

describe('an allocation whose kernels are gone', () => {
  let allocation: Allocation;

  beforeAll(async () => {
    allocation = await lab.harness.requestGpu();
  });

  it('has its unconnected kernels culled by the gateway, never the one Jupyter has open', async () => {
    const { session, channel } = await openNotebook(lab, allocation, 'kept');
    channel.close(); // Jupyter Server's own connection, through the companion, stays
    const gateway = lab.harness.gatewayOf(allocation, tunnels);
    const stray = await gateway.startKernel('python3');
    expect((await gateway.kernels()).map(k => k.id)).toContain(stray.id);
    await waitFor(
      'the unconnected kernel culled',
      async () => !(await gateway.kernels()).some(k => k.id === stray.id),
      90_000,
      2_000
    );
    const left = await gateway.kernels();
    expect(left).toHaveLength(1);
    const again = await lab.server.connect(session.kernel.id);
    try {
      expect((await again.execute('print(x)')).stdout).toBe('1\n');
    } finally {
      again.close();
    }
    await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  });

  it('is cancelled the grace after its last kernel was shut down, the time kept across a companion restart', async () => {
    await setPolicy(0.5, 0);
    // The session of the test above was deleted: its kernel is shut down, the grace runs.
    await waitFor(
      'the cancel scheduled',
      async () =>
        (await currentOf(lab, allocation)).autoCancel?.why === 'no_kernel',
      30_000
    );
    const { at } = (await currentOf(lab, allocation)).autoCancel!;
    expect(Date.parse(at) - Date.now()).toBeGreaterThan(10_000);

    // The companion is killed; 10 s later the next CLI call starts another (no kernel's shim does:
    // none runs). It counts from the same time, not from its start.
    process.kill((await lab.harness.servingPid()) as number, 'SIGKILL');
    await new Promise(resolve => setTimeout(resolve, 10_000));
    await waitFor(
      'a new companion, with the same cancel time',
      async () => (await currentOf(lab, allocation)).autoCancel?.at === at,
      30_000
    );
    await waitFor(
      'the allocation cancelled',
      async () => (await currentOf(lab, allocation)).state === 'ended',
      60_000
    );
    const ended = await currentOf(lab, allocation);
    expect(ended.outcome).toMatchObject({
      state: 'CANCELLED',
      autoCancelled: true,
      message: 'Cancelled for you: no kernel ran in it for 30 s.'
    });
    // Not later than the grace allows: a restart counting afresh would add the 10 s it took.
    expect(Date.parse(ended.updatedAt)).toBeLessThan(Date.parse(at) + 8_000);
    expect(await liveJobsOfOurs()).toEqual([]);
    expect(lab.harness.kernelspecNames()).toEqual([]);
  });
});

it('cancels an allocation in which no code ran for the idle limit: never during a cell, later on "keep"', async () => {
  await setPolicy(0, 0.25);
  const allocation = await lab.harness.requestGpu();
  const { session, channel } = await openNotebook(lab, allocation, 'idle');
  try {
    // A cell twice as long as the idle limit: nothing is scheduled, nor cancelled, while it runs.
    const cell = channel.execute('import time; time.sleep(30)', {
      timeoutMs: 60_000
    });
    const seen: Array<Allocation['autoCancel']> = [];
    // From the companion's next look at its kernels on (every 1.5 s here) to the cell's end.
    await new Promise(resolve => setTimeout(resolve, 4_000));
    const watching = (async () => {
      for (let i = 0; i < 10; i++) {
        await new Promise(resolve => setTimeout(resolve, 2_000));
        const now = await currentOf(lab, allocation);
        expect(now.state).toBe('ready');
        seen.push(now.autoCancel ?? null);
      }
    })();
    await watching;
    expect(seen.every(due => due === null)).toBe(true);
    expect((await cell).reply.status).toBe('ok');
  } finally {
    channel.close();
  }
  await waitFor(
    'the idle cancel scheduled',
    async () => (await currentOf(lab, allocation)).autoCancel?.why === 'idle',
    30_000
  );
  const first = (await currentOf(lab, allocation)).autoCancel!.at;
  await new Promise(resolve => setTimeout(resolve, 3_000));
  const kept = await lab.harness.cli(['keep', allocation.jobId as string]);
  expect(kept.code).toBe(0);
  expect(kept.stderr).toMatch(/^kept job \d+: now cancelled at /);
  expect(
    Date.parse((await currentOf(lab, allocation)).autoCancel!.at)
  ).toBeGreaterThan(Date.parse(first));
  await waitFor(
    'the allocation cancelled',
    async () => (await currentOf(lab, allocation)).state === 'ended',
    60_000
  );
  expect((await currentOf(lab, allocation)).outcome).toMatchObject({
    state: 'CANCELLED',
    autoCancelled: true,
    message: 'Cancelled for you: no code ran in it for 15 s.'
  });
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  expect(await liveJobsOfOurs()).toEqual([]);
});
