/**
 * GPUs you can see, on the testbed: its nodes' stand-in nvidia-smi replays real captures (node1 an
 * H100, node2 an H200, idle or busy as set). The job's gateway reports the binding and samples,
 * the companion checks and serves them; an environment that clears CUDA_VISIBLE_DEVICES gets the
 * warning; GPUs at 0 % for the window are flagged, and past the GPU idle limit the allocation is
 * cancelled (announced first); no sampler outlives its job, cancelled or timed out.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Allocation, CancelPolicy } from '../../../src/api/allocation';
import { requestJson } from '../unit/http/request';
import { currentOf, useLabSide } from './setup';
import { injectFault, requireTestUser, waitFor } from './testbed';

jest.setTimeout(300_000);
requireTestUser();
const SITE_ENV = '/opt/slurm-kernels/site-env';
const MODELS: Record<string, string> = {
  node1: 'NVIDIA H100 80GB HBM3',
  node2: 'NVIDIA H200'
};
const IDLE: Record<string, string> = {
  node1: 'h100-idle-and-burn:0',
  node2: 'h200:0'
};
const BUSY: Record<string, string> = {
  node1: 'h100-idle-and-burn:1',
  node2: 'h200:1'
};

const side = useLabSide(harness => {
  harness.env.SLURM_KERNELS_GPU_SAMPLE_S = '1';
  // A preset of the user's that hides the GPUs from the kernels, as a careless init line does.
  harness.writePresets({
    'no-gpus': { venv: SITE_ENV, init: ['export CUDA_VISIBLE_DEVICES='] }
  });
});

beforeAll(async () => {
  for (const node of Object.keys(IDLE)) {
    await injectFault('gpu', node, IDLE[node]);
  }
});
afterAll(async () => {
  for (const node of Object.keys(IDLE)) {
    await injectFault('gpu', node, IDLE[node]); // the testbed's own default
  }
});

/** The allocation once the companion has its GPU report (and, if asked, a few samples). */
async function withGpus(
  allocation: Allocation,
  samples = 0
): Promise<Allocation> {
  return waitFor(
    `the GPU report of job ${allocation.jobId}`,
    async () => {
      const now = await currentOf(side, allocation);
      const enough =
        now.gpus &&
        (samples === 0 ||
          (now.gpus.series.length > 0 &&
            now.gpus.series.every(s => s.samples.length >= samples)));
      return enough ? now : undefined;
    },
    60_000,
    500
  );
}

/** The user's cancel policy: the other limits off, so only the GPUs' decide. */
async function setPolicy(gpuLimits: Partial<CancelPolicy>): Promise<void> {
  const res = await requestJson(side.harness.socket, 'PUT', '/api/policy', {
    noKernelMinutes: 0,
    idleMinutes: 0,
    ...gpuLimits
  });
  expect(res).toMatchObject({ status: 200, body: gpuLimits });
}

/** Pids of the stand-in nvidia-smi processes running for a job (its environment says which). */
function samplersOf(jobId: string): number[] {
  return readdirSync('/proc')
    .filter(name => /^\d+$/.test(name))
    .filter(pid => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        return (
          cmdline.includes('testbed-gpu/bin/nvidia-smi') &&
          environ.split('\0').includes(`SLURM_JOB_ID=${jobId}`)
        );
      } catch {
        return false; // gone meanwhile, or not ours
      }
    })
    .map(Number);
}

it('shows the 2 GPUs of a gpu:2 allocation with model and memory, and samples them', async () => {
  const a = await side.harness.requestGpu({ gpus: 2 });
  const seen = await withGpus(a, 3);
  const gpus = seen.gpus!;
  const model = MODELS[seen.node as string];
  expect(gpus.requested).toBe(2);
  expect(gpus.devices?.map(d => [d.index, d.name])).toEqual([
    [0, model],
    [1, model]
  ]);
  expect(gpus.summary).toMatch(
    new RegExp(`^2× ${model}, \\d+\\.\\d GiB each$`)
  );
  expect(gpus.problem).toBeNull();
  expect(gpus.evidence.environment.CUDA_VISIBLE_DEVICES).toBe('0,1');
  expect(gpus.evidence.environment.SLURM_JOB_GPUS).toBe('0,1');
  expect(gpus.sampler).toEqual({ state: 'running', message: null });
  expect(gpus.series.map(s => s.uuid)).toEqual(gpus.devices?.map(d => d.uuid));
  expect(gpus.series[0].samples.at(-1)).toMatchObject({
    utilizationGpu: 0,
    memoryUsedMiB: 0
  });
  expect(seen.gpuHours).toBeGreaterThan(0);
  // One sampler for the job, however many samples: no process per sample.
  expect(samplersOf(a.jobId as string)).toHaveLength(1);
  const listed = await side.harness.cli(['list']);
  expect(listed.stdout).toContain(`\tGPUs: 2× ${model}`);

  await side.harness.cli(['cancel', a.id]);
  await waitFor(
    'the sampler gone with the cancelled job',
    async () => samplersOf(a.jobId as string).length === 0,
    60_000,
    250
  );
});

it('warns, with the evidence, when an environment preset clears CUDA_VISIBLE_DEVICES', async () => {
  const a = await side.harness.requestGpu({ preset: 'no-gpus' });
  const gpus = (await withGpus(a)).gpus!;
  expect(gpus.problem).toEqual({
    kind: 'none',
    message: expect.stringContaining('CUDA_VISIBLE_DEVICES is empty in the job')
  });
  expect(gpus.evidence.environment.CUDA_VISIBLE_DEVICES).toBe('');
  expect(gpus.evidence.nvidiaSmi).toContain(MODELS[a.node as string]);
  expect(gpus.series).toEqual([]); // nothing the kernels use to chart
  const listed = await side.harness.cli(['list']);
  expect(listed.stdout).toMatch(/\tWARNING: the kernels see no GPU/);
  await side.harness.cli(['cancel', a.id]);
});

it('flags GPUs at 0 % for the idle window, not while they are busy, and no sampler outlives a time limit', async () => {
  await setPolicy({ gpuIdleMinutes: 0.1 }); // 6 s
  // Two minutes of walltime: the job ends by its limit while the test watches.
  const a = await side.harness.requestGpu({ minutes: 2 });
  const node = a.node as string;
  await injectFault('gpu', node, BUSY[node]);
  const busy = await waitFor(
    'busy samples',
    async () => {
      const now = await currentOf(side, a);
      return now.gpus?.series[0]?.samples.at(-1)?.utilizationGpu === 100
        ? now
        : undefined;
    },
    30_000,
    500
  );
  expect(busy.gpus?.idle).toMatchObject({ since: null, flagged: false });
  await new Promise(resolve => setTimeout(resolve, 8_000));
  expect((await currentOf(side, a)).gpus?.idle.flagged).toBe(false);

  await injectFault('gpu', node, IDLE[node]);
  const idle = await waitFor(
    'the idle flag',
    async () => {
      const now = await currentOf(side, a);
      return now.gpus?.idle.flagged ? now : undefined;
    },
    30_000,
    500
  );
  const since = Date.parse(idle.gpus?.idle.since as string);
  expect(Date.now() - since).toBeGreaterThanOrEqual(6_000);
  const listed = await side.harness.cli(['list']);
  expect(listed.stdout).toMatch(/\tidle: every GPU at 0 % since /);
  await injectFault('gpu', node, IDLE[node]);

  const ended = await waitFor(
    'the job to reach its time limit',
    async () => {
      const now = await currentOf(side, a);
      return ['ended', 'failed'].includes(now.state) ? now : undefined;
    },
    180_000,
    1_000
  );
  expect(ended.outcome).toMatchObject({ state: 'TIMEOUT' });
  expect(ended.state).toBe('ended');
  expect(ended.gpus).toBeNull();
  expect(samplersOf(a.jobId as string)).toEqual([]);
});

it('cancels an allocation whose GPUs stay at 0 % for the GPU idle limit, after announcing it', async () => {
  await setPolicy({ gpuIdleCancelMinutes: 0.25 }); // 15 s
  const a = await side.harness.requestGpu();
  // Idle GPUs from the first samples on: the cancel is scheduled, and shown, before it happens.
  const announced = await waitFor(
    'the GPU idle cancel scheduled',
    async () => {
      const now = await currentOf(side, a);
      return now.autoCancel?.why === 'gpu_idle' ? now : undefined;
    },
    60_000,
    500
  );
  // From when its GPUs were idle, or from when it became ready if they were idle before.
  const since = Date.parse(announced.gpus?.idle.since as string);
  const at = Date.parse(announced.autoCancel!.at);
  expect(at).toBeGreaterThanOrEqual(since + 15_000);
  expect(at - 15_000).toBeLessThanOrEqual(Date.now());
  const listed = await side.harness.cli(['list']);
  expect(listed.stdout).toContain(
    `: GPUs idle; slurm-kernels keep ${a.jobId})`
  );
  const ended = await waitFor(
    'the allocation cancelled',
    async () => {
      const now = await currentOf(side, a);
      return now.state === 'ended' ? now : undefined;
    },
    60_000,
    1_000
  );
  expect(ended.outcome).toMatchObject({
    state: 'CANCELLED',
    autoCancelled: true,
    message: 'Cancelled for you: its GPUs were idle (0 %) for 15 s.'
  });
  expect(Date.parse(ended.updatedAt)).toBeGreaterThanOrEqual(at);
  await waitFor(
    'the sampler gone with the cancelled job',
    async () => samplersOf(a.jobId as string).length === 0,
    60_000,
    250
  );
});
