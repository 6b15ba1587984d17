/**
 * Faults of Slurm itself, injected on the testbed (dev/testbed/fault.sh through sudo): slurmctld
 * stopped by its pid while an allocation is ready and its kernel runs, and an sbatch that submits
 * the job but answers with an error. Nothing is ended, cancelled, forgotten or submitted twice.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { Harness } from './harness';
import { useLabSide } from './setup';
import {
  cancelLeftoverJobs,
  injectFault,
  liveJobsOfOurs,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const lab = useLabSide(harness => {
  // Ready allocations are looked at every 2 s here, not every 2 minutes.
  harness.env.SLURM_KERNELS_POLL_S = '2';
});

afterAll(async () => {
  await injectFault('ctld', 'start'); // whatever happened, the testbed's controller runs again
  await cancelLeftoverJobs();
});

describe('slurmctld down', () => {
  let allocation: Allocation;

  it('keeps a ready allocation and its kernel while Slurm does not answer, refuses new requests clearly, and carries on after', async () => {
    allocation = await lab.harness.requestGpu();
    const session = await lab.server.json('POST', '/api/sessions', {
      path: 'slurm-down.ipynb',
      name: 'slurm-down.ipynb',
      type: 'notebook',
      kernel: { name: `slurm-${allocation.jobId}-python3` }
    });
    const channel = await lab.server.connect(session.kernel.id);
    try {
      await channel.execute('x = 1');
      await injectFault('ctld', 'stop');
      const stoppedAt = Date.now();
      const kept = await waitFor(
        'the allocation marked Slurm unreachable',
        async () => {
          const [a] = await lab.harness.list();
          return a?.problem?.kind === 'slurm_unreachable' ? a : undefined;
        },
        60_000,
        500
      );
      expect(kept).toMatchObject({ id: allocation.id, state: 'ready' });
      // The kernel on the node does not need slurmctld.
      expect((await channel.execute('x += 1; print(x)')).stdout).toBe('2\n');
      const refused = await lab.harness.cli([
        'request',
        '-p',
        'gpu',
        '-t',
        '5'
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /Slurm did not answer .*nothing was submitted, try again once it is back/
      );
      // Two minutes of failed polls: still ready, nothing ended.
      await new Promise(resolve =>
        setTimeout(resolve, Math.max(0, stoppedAt + 120_000 - Date.now()))
      );
      const [during] = await lab.harness.list();
      expect(during).toMatchObject({ state: 'ready', outcome: null });

      await injectFault('ctld', 'start');
      const back = await waitFor(
        'the problem cleared',
        async () => {
          const [a] = await lab.harness.list();
          return a && !a.problem ? a : undefined;
        },
        60_000,
        500
      );
      expect(back).toMatchObject({
        state: 'ready',
        jobId: allocation.jobId,
        kernelspecs: allocation.kernelspecs
      });
      expect((await channel.execute('x += 1; print(x)')).stdout).toBe('3\n');
      expect(await liveJobsOfOurs()).toEqual([allocation.jobId]);
    } finally {
      channel.close();
      await lab.server.request('DELETE', `/api/sessions/${session.id}`);
    }
    await lab.harness.cancelEverything();
  });
});

describe('an sbatch that submits but answers with an error', () => {
  const harness = new Harness();

  beforeAll(async () => {
    // A site's wrapper, or a controller that timed out after taking the job: the job exists.
    const bin = path.join(harness.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(
      path.join(bin, 'sbatch'),
      [
        '#!/bin/bash',
        '/usr/bin/sbatch "$@" >/dev/null || exit',
        'echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2',
        'exit 1',
        ''
      ].join('\n')
    );
    chmodSync(path.join(bin, 'sbatch'), 0o755);
    harness.env.PATH = `${bin}:${harness.env.PATH}`;
    await harness.startCompanion();
  });

  afterAll(async () => {
    await harness.cancelAll();
    await harness.stop();
  });

  it('finds the job by its tag instead of submitting it again: one allocation, one job, ready', async () => {
    const before = await liveJobsOfOurs();
    const result = await harness.cli([
      'request',
      '-p',
      'cpu',
      '-t',
      '5',
      '--wait',
      '--json'
    ]);
    expect(result.stderr).toMatch(/sbatch gave no clear answer/);
    expect(result.code).toBe(0);
    const allocation: Allocation = JSON.parse(result.stdout);
    expect(allocation).toMatchObject({ state: 'ready', problem: null });
    const added = (await liveJobsOfOurs()).filter(j => !before.includes(j));
    expect(added).toEqual([allocation.jobId]);
    expect(await harness.list()).toHaveLength(1);
  });
});
