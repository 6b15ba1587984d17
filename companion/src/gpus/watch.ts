/**
 * An allocation's GPUs, as its kernels see them, and what they do: the companion's side of the
 * report the job's gateway serves (jupyterlab_slurm_kernels/gpus.py). Asked over the connection
 * the allocation already has, every two sampling intervals, for the rounds since the last answer;
 * the binding is checked once the job's nvidia-smi has listed its devices.
 */
import { z } from 'zod';
import type { AllocationGpus } from '../../../src/api/allocation';
import { checkBinding, describeDevices, IGpuEvidence } from './binding';
import {
  DEVICE_FIELDS,
  NvidiaSmiError,
  parseDevices,
  parseSamples,
  SAMPLE_FIELDS
} from './nvidiaSmi';

/** What the gateway answers. */
export const gpuReportSchema = z.object({
  intervalMs: z.number().positive(),
  fields: z.array(z.string()),
  deviceFields: z.array(z.string()),
  environment: z.record(z.string(), z.string().nullable()),
  /** null while the job's nvidia-smi lists the devices. */
  devices: z
    .union([z.object({ csv: z.string() }), z.object({ error: z.string() })])
    .nullable(),
  sampler: z.object({
    state: z.enum(['starting', 'running', 'absent', 'failed']),
    message: z.string().nullable()
  }),
  samplingSince: z.number(),
  /** When each GPU (by UUID) was last busy, or did not say (MIG), in ms since the epoch. */
  lastBusy: z.record(z.string(), z.number()),
  seq: z.number().int(),
  rounds: z.array(
    z.object({ seq: z.number().int(), t: z.number(), csv: z.string() })
  )
});

export type GpuReport = z.infer<typeof gpuReportSchema>;

export interface IGpuWatchOptions {
  /** Asks the gateway; undefined where it does not report GPUs. */
  fetch: (since?: number) => Promise<unknown>;
  requested: number;
  node: string | null;
  /** Something new to show: a verdict, samples. */
  onChange: () => void;
  log: { warn: (obj: object, msg: string) => void };
  /** Samples kept per GPU, for the charts. */
  keep?: number;
}

interface ISeries {
  uuid: string;
  index: number;
  name: string;
  memoryTotalMiB: number | null;
  samples: {
    t: number;
    utilizationGpu: number | null;
    memoryUsedMiB: number | null;
  }[];
}

const KEPT_SAMPLES = 60;
/** An unanswered ask is tried again after this long, whatever the interval. */
const RETRY_MS = 15_000;

/** How often the gateway is asked for new rounds, while it answers. */
function askEveryMs(intervalMs: number): number {
  return Math.max(2_000, 2 * intervalMs);
}

/**
 * How old the newest sample may be before it tells nothing of now: a round is published when the
 * next one starts (an interval late), asked for every askEveryMs, and one ask may fail and be
 * tried again.
 */
export function staleAfterMs(intervalMs: number): number {
  return intervalMs + askEveryMs(intervalMs) + RETRY_MS;
}

export class GpuWatch {
  constructor(private readonly _o: IGpuWatchOptions) {}

  start(): void {
    void this._loop();
  }

  stop(): void {
    this._stopped = true;
    if (this._timer) {
      clearTimeout(this._timer);
    }
    this._wake?.();
  }

  /** The allocation's GPUs as the API shows them; null until the job reported them. */
  view(idleMinutes: number, now = Date.now()): AllocationGpus | null {
    const report = this._report;
    if (!report || report.devices === null) {
      return null;
    }
    const evidence = evidenceOf(report);
    const binding = checkBinding(this._o.requested, evidence);
    const uuids = binding.devices?.map(d => d.uuid) ?? [...this._series.keys()];
    const series = uuids
      .map(uuid => this._series.get(uuid))
      .filter((s): s is ISeries => s !== undefined);
    return {
      requested: this._o.requested,
      devices: binding.devices,
      summary: binding.devices
        ? describeDevices(binding.devices)
        : binding.visible === null
          ? 'GPUs not known'
          : `${binding.visible} GPU(s)`,
      problem: binding.problem,
      evidence: {
        node: this._o.node,
        environment: report.environment,
        nvidiaSmi:
          'csv' in report.devices ? report.devices.csv : report.devices.error
      },
      sampler: report.sampler,
      series,
      idle: this._idle(report, series, idleMinutes, now)
    };
  }

  /** Since when every GPU charted has been at 0 %, and whether that lasted the idle window. */
  private _idle(
    report: GpuReport,
    series: ISeries[],
    minutes: number,
    now: number
  ): AllocationGpus['idle'] {
    const latest = Math.max(0, ...series.flatMap(s => s.samples.map(x => x.t)));
    const lastBusy = Math.max(
      report.samplingSince,
      ...series.map(s => report.lastBusy[s.uuid] ?? 0)
    );
    const latestUse = series.map(s => s.samples.at(-1)?.utilizationGpu);
    const idle =
      report.sampler.state === 'running' &&
      series.length > 0 &&
      latest > 0 &&
      // Samples that stopped coming (a node out of reach, a stalled sampler) tell nothing now,
      // nor does the last sample of a GPU missing from the latest round.
      now - latest <= staleAfterMs(report.intervalMs) &&
      series.every(s => s.samples.at(-1)?.t === latest) &&
      latestUse.every(u => u === 0) && // a GPU that does not say (MIG) is never idle
      lastBusy < latest; // busy (or silent) in the latest round: not idle
    const since = idle ? lastBusy : null;
    return {
      since: since === null ? null : new Date(since).toISOString(),
      flagged: since !== null && minutes > 0 && now - since >= minutes * 60_000,
      minutes
    };
  }

  private async _loop(): Promise<void> {
    while (!this._stopped) {
      let waitMs = RETRY_MS;
      try {
        const answer = await this._o.fetch(this._report?.seq);
        if (this._stopped) {
          return;
        }
        if (answer === undefined) {
          return; // a gateway without the report: nothing to watch
        }
        const report = gpuReportSchema.parse(answer);
        if (report.deviceFields.join(',') !== DEVICE_FIELDS.join(',')) {
          report.devices = {
            error: `the job lists devices by other fields (${report.deviceFields.join(',')})`
          };
        }
        if (report.fields.join(',') !== SAMPLE_FIELDS.join(',')) {
          report.sampler = {
            state: 'failed',
            message: `the job's sampler reads other fields (${report.fields.join(',')})`
          };
          report.rounds = [];
        }
        this._take(report);
        this._failing = false;
        waitMs = askEveryMs(report.intervalMs);
      } catch (err) {
        // Said once per outage (a node out of reach fails every ask until it is back).
        if (!this._stopped && !this._failing) {
          this._o.log.warn(
            { err: (err as Error).message },
            "could not read the job's GPU report"
          );
        }
        this._failing = true;
      }
      await new Promise<void>(resolve => {
        this._wake = resolve;
        this._timer = setTimeout(resolve, waitMs);
        this._timer.unref();
      });
    }
  }

  private _take(report: GpuReport): void {
    const before = JSON.stringify(this._verdictOf(this._report));
    for (const round of report.rounds) {
      let samples;
      try {
        samples = parseSamples(round.csv);
      } catch {
        continue; // a failure line: the sampler's own state says why
      }
      for (const sample of samples) {
        const series = this._series.get(sample.uuid) ?? {
          uuid: sample.uuid,
          index: sample.index,
          name: sample.name,
          memoryTotalMiB: sample.memoryTotalMiB,
          samples: []
        };
        series.samples.push({
          t: round.t,
          utilizationGpu: sample.utilizationGpu,
          memoryUsedMiB: sample.memoryUsedMiB
        });
        series.samples.splice(
          0,
          Math.max(0, series.samples.length - (this._o.keep ?? KEPT_SAMPLES))
        );
        this._series.set(sample.uuid, series);
      }
    }
    this._report = report;
    if (
      report.rounds.length > 0 ||
      JSON.stringify(this._verdictOf(report)) !== before
    ) {
      this._o.onChange();
    }
  }

  private _verdictOf(report: GpuReport | null): unknown {
    return report && [report.devices, report.sampler, report.environment];
  }

  private _report: GpuReport | null = null;
  private _series = new Map<string, ISeries>();
  private _stopped = false;
  private _failing = false;
  private _timer: NodeJS.Timeout | null = null;
  private _wake: (() => void) | null = null;
}

/** The binding check's evidence from the report. */
export function evidenceOf(report: GpuReport): IGpuEvidence {
  const env = report.environment;
  let nvidiaSmi: IGpuEvidence['nvidiaSmi'] = null;
  if (report.devices && 'csv' in report.devices) {
    try {
      nvidiaSmi = { devices: parseDevices(report.devices.csv) };
    } catch (err) {
      nvidiaSmi = {
        error: err instanceof NvidiaSmiError ? err.message : String(err)
      };
    }
  } else if (report.devices && report.sampler.state !== 'absent') {
    nvidiaSmi = { error: report.devices.error };
  }
  return {
    cudaVisibleDevices: env.CUDA_VISIBLE_DEVICES ?? null,
    slurmJobGpus: env.SLURM_JOB_GPUS ?? null,
    slurmGpusOnNode: env.SLURM_GPUS_ON_NODE ?? null,
    nvidiaSmi
  };
}
