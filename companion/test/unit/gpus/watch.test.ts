/**
 * The companion's side of the GPU report: the binding verdict, the charts' series and the idle
 * flag from what the job's gateway answers (shaped as jupyterlab_slurm_kernels/gpus.py answers).
 */
import type { GpuReport } from '../../../src/gpus/watch';
import { DEVICE_FIELDS, SAMPLE_FIELDS } from '../../../src/gpus/nvidiaSmi';
import { GpuWatch } from '../../../src/gpus/watch';

const H100 = 'NVIDIA H100 80GB HBM3';
const uuid = (i: number) => `GPU-5bce98f7-0000-0000-0000-00000000000${i}`;
const DEVICES = [0, 1]
  .map(i => `${i}, ${uuid(i)}, 00000000:1${8 + i}:00.0, ${H100}, 81559`)
  .join('\n');
/** A sampler round of both GPUs: utilisation of each ('[N/A]' on MIG), memory used. */
const round = (seq: number, t: number, util: string[], usedMiB = 0) => ({
  seq,
  t,
  csv: util
    .map(
      (u, i) =>
        `${i}, ${uuid(i)}, ${H100}, 81559, ${usedMiB}, ${u}, 0, 41, 69.85`
    )
    .join('\n')
});

function report(over: Partial<GpuReport> = {}): GpuReport {
  return {
    intervalMs: 5000,
    fields: [...SAMPLE_FIELDS],
    deviceFields: [...DEVICE_FIELDS],
    environment: {
      CUDA_VISIBLE_DEVICES: '1',
      SLURM_JOB_GPUS: '1',
      SLURM_GPUS_ON_NODE: '1'
    },
    devices: { csv: DEVICES },
    sampler: { state: 'running', message: null },
    samplingSince: 1_000,
    lastBusy: {},
    seq: 0,
    rounds: [],
    ...over
  };
}

/** A watch over answers given in turn, each taken (after the last it asks once more, and stops). */
async function watched(
  answers: (GpuReport | undefined)[],
  requested = 1
): Promise<{
  watch: GpuWatch;
  asked: (number | undefined)[];
  changes: number;
}> {
  const asked: (number | undefined)[] = [];
  const queue = [...answers];
  const counted = { changes: 0 };
  const watch = new GpuWatch({
    fetch: async since => {
      asked.push(since);
      return queue.shift();
    },
    requested,
    node: 'node1',
    onChange: () => (counted.changes += 1),
    log: { warn: () => undefined }
  });
  jest.useFakeTimers();
  watch.start();
  await jest.advanceTimersByTimeAsync(answers.length * 10_000);
  jest.useRealTimers();
  return { watch, asked, changes: counted.changes };
}

afterEach(() => jest.useRealTimers());

describe("an allocation's GPU watch", () => {
  it('shows the device its kernels use, of the two the node lists, and charts only that one', async () => {
    const { watch } = await watched([
      report({
        seq: 2,
        rounds: [round(1, 2_000, ['0', '0']), round(2, 7_000, ['0', '35'], 900)]
      })
    ]);
    const view = watch.view(30, 8_000)!;
    expect(view.devices?.map(d => d.uuid)).toEqual([uuid(1)]);
    expect(view.summary).toBe(`1× ${H100}, 79.6 GiB`);
    expect(view.problem).toBeNull();
    expect(view.series.map(s => s.uuid)).toEqual([uuid(1)]);
    expect(view.series[0].samples).toEqual([
      { t: 2_000, utilizationGpu: 0, memoryUsedMiB: 0 },
      { t: 7_000, utilizationGpu: 35, memoryUsedMiB: 900 }
    ]);
    expect(view.evidence).toEqual({
      node: 'node1',
      environment: {
        CUDA_VISIBLE_DEVICES: '1',
        SLURM_JOB_GPUS: '1',
        SLURM_GPUS_ON_NODE: '1'
      },
      nvidiaSmi: DEVICES
    });
    watch.stop();
  });

  it('warns when an environment cleared CUDA_VISIBLE_DEVICES, with the raw evidence', async () => {
    const { watch } = await watched(
      [
        report({
          environment: { CUDA_VISIBLE_DEVICES: '', SLURM_JOB_GPUS: '0,1' }
        })
      ],
      2
    );
    const view = watch.view(30)!;
    expect(view.problem).toEqual({
      kind: 'none',
      message: expect.stringContaining('CUDA_VISIBLE_DEVICES is empty')
    });
    expect(view.summary).toBe('no GPU');
    expect(view.evidence.environment.CUDA_VISIBLE_DEVICES).toBe('');
    watch.stop();
  });

  it('asks for the rounds after the last it has, and keeps the last 60 per GPU', async () => {
    const many = Array.from({ length: 70 }, (_, i) =>
      round(i + 1, 1_000 * (i + 1), ['0', '50'])
    );
    const { watch, asked } = await watched([
      report({ seq: 40, rounds: many.slice(0, 40) }),
      report({ seq: 70, rounds: many.slice(40) })
    ]);
    expect(asked.slice(0, 2)).toEqual([undefined, 40]);
    const samples = watch.view(30)!.series[0].samples;
    expect(samples).toHaveLength(60);
    expect(samples[0].t).toBe(11_000);
    expect(samples.at(-1)?.t).toBe(70_000);
    watch.stop();
  });

  it('flags GPUs at 0 % for the idle window, not before, and never while one is busy', async () => {
    const { watch } = await watched([
      report({
        intervalMs: 60_000,
        seq: 3,
        samplingSince: 1_000,
        lastBusy: { [uuid(1)]: 60_000 },
        rounds: [round(3, 120_000, ['0', '0'])]
      })
    ]);
    const view = (now: number) => watch.view(2, now)!.idle;
    expect(view(150_000)).toEqual({
      since: new Date(60_000).toISOString(),
      flagged: false,
      minutes: 2
    });
    expect(view(60_000 + 2 * 60_000)).toMatchObject({ flagged: true });
    expect(watch.view(0, 200_000)!.idle.flagged).toBe(false); // 0: never
    // Samples that stopped coming (the node out of reach) say nothing of now.
    expect(watch.view(2, 120_000 + 5 * 60_000)!.idle).toMatchObject({
      since: null,
      flagged: false
    });
    watch.stop();

    const { watch: busy } = await watched([
      report({
        seq: 3,
        lastBusy: { [uuid(1)]: 120_000 },
        rounds: [round(3, 120_000, ['0', '80'])]
      })
    ]);
    expect(busy.view(2, 10_000_000)!.idle).toEqual({
      since: null,
      flagged: false,
      minutes: 2
    });
    busy.stop();
  });

  it('gives no idle verdict while a GPU is missing from the latest round', async () => {
    const { watch } = await watched(
      [
        report({
          intervalMs: 60_000,
          seq: 4,
          environment: { CUDA_VISIBLE_DEVICES: '0,1', SLURM_JOB_GPUS: '0,1' },
          samplingSince: 1_000,
          lastBusy: {},
          // The second GPU's line of round 4 was no sample (an error nvidia-smi printed instead).
          rounds: [round(3, 120_000, ['0', '0']), round(4, 180_000, ['0'])]
        })
      ],
      2
    );
    expect(watch.view(2, 190_000)!.series).toHaveLength(2);
    expect(watch.view(2, 190_000)!.idle).toMatchObject({
      since: null,
      flagged: false
    });
    watch.stop();
  });

  it('reads MIG utilisation as unknown, never as 0, and never idle', async () => {
    const { watch } = await watched([
      report({
        seq: 1,
        environment: { CUDA_VISIBLE_DEVICES: 'MIG-0aa1', SLURM_JOB_GPUS: '1' },
        // Not even if the job's side had not noted the silent GPU as busy.
        lastBusy: {},
        rounds: [round(1, 5_000, ['[N/A]', '[N/A]'], 11125)]
      })
    ]);
    const view = watch.view(1, 6_000)!;
    // A MIG instance: its parent GPU is not known here, so nothing is said to be missing.
    expect(view.problem).toBeNull();
    expect(view.summary).toBe('1 GPU(s)');
    expect(view.series.map(s => s.uuid)).toEqual([uuid(0), uuid(1)]);
    expect(view.series[1].samples[0]).toEqual({
      t: 5_000,
      utilizationGpu: null,
      memoryUsedMiB: 11125
    });
    expect(view.idle.since).toBeNull();
    watch.stop();
  });

  it('shows nothing, and stops asking, where the gateway does not report GPUs', async () => {
    const { watch, asked, changes } = await watched([undefined]);
    expect(watch.view(30)).toBeNull();
    expect(asked).toEqual([undefined]);
    expect(changes).toBe(0);
  });
});
