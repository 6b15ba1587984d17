/**
 * The allocation request: one zod schema, used by the request form (validation as the user types)
 * and by the companion (validation of every POST before anything reaches Slurm).
 *
 * Values end up as separate argv elements of sbatch or, for the environment, quoted into the job
 * script, so the patterns below are about what Slurm and the site accept, and they also keep shell
 * metacharacters and newlines out on principle: nothing a user types is ever parsed by a shell.
 */
import { z } from 'zod';
import { formatSlurmMinutes, parseSlurmMinutes } from './slurmTime';

/** Partition, account, QOS and preset names as Slurm and sites spell them. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** "gpu", "gpu:2", "gpu:tesla:2", "gpu:a100_80g:1". */
const GRES =
  /^([A-Za-z][A-Za-z0-9_]*)(?::([A-Za-z0-9][A-Za-z0-9_.-]*))??(?::(\d+))?$/;
/** sbatch --mem: a number with an optional K/M/G/T suffix. */
const MEMORY = /^[1-9]\d{0,8}[KMGT]?$/;
/** Slurm constraint expressions: features joined by & | , with brackets, counts and parentheses. */
const CONSTRAINT = /^[A-Za-z0-9_.&|,:*[\]()!-]{1,128}$/;
/** An environment module, e.g. "cuda/12.4" or "python/3.11-gcc". */
const MODULE = /^[A-Za-z0-9][A-Za-z0-9_.+/-]{0,127}$/;
/** An absolute path without shell metacharacters, whitespace or "..". */
const PATH = /^\/(?!.*\.\.)[A-Za-z0-9_.+/@-]{0,1023}$/;

export interface IParsedGres {
  name: string;
  type: string | null;
  count: number;
}

/** Parses a GRES request; undefined when it is not one. */
export function parseGresRequest(text: string): IParsedGres | undefined {
  const m = GRES.exec(text.trim());
  if (!m) {
    return undefined;
  }
  return {
    name: m[1],
    type: m[2] ?? null,
    count: m[3] === undefined ? 1 : Number(m[3])
  };
}

const optionalName = (what: string) =>
  z
    .string()
    .regex(NAME, `${what}: letters, digits, '.', '_' and '-' only (at most 64)`)
    .optional();

export const environmentSchema = z
  .object({
    /** Environment modules to load, in order (`module load`). */
    modules: z
      .array(
        z
          .string()
          .regex(MODULE, 'module names: letters, digits and _ . + / - only')
      )
      .max(32)
      .default([]),
    /** A conda environment to activate, by name or absolute path. */
    conda: z
      .string()
      .regex(
        /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}|\/(?!.*\.\.)[A-Za-z0-9_.+/@-]{1,1023})$/,
        'a conda environment name or absolute path'
      )
      .optional(),
    /** A Python virtual environment to activate: its directory (bin/activate is sourced). */
    venv: z
      .string()
      .regex(PATH, 'an absolute path without spaces, quotes or ".."')
      .optional(),
    /** Extra lines from the user's own settings, run before the gateway starts; one command per line. */
    init: z
      .array(
        z
          .string()
          .max(1024)
          .refine(line => !/[\r\n\0]/.test(line), 'one line each: no newlines')
      )
      .max(32)
      .default([])
  })
  .strict();

export const allocationRequestSchema = z
  .object({
    partition: z
      .string()
      .regex(NAME, "partition: letters, digits, '.', '_' and '-' only"),
    gres: z
      .string()
      .refine(
        text => parseGresRequest(text) !== undefined,
        'GRES looks like gpu, gpu:2 or gpu:tesla:2'
      )
      .refine(
        text => (parseGresRequest(text)?.count ?? 1) >= 1,
        'ask for at least one'
      )
      .optional(),
    time: z
      .string()
      .refine(
        text =>
          typeof parseSlurmMinutes(text) === 'number' &&
          (parseSlurmMinutes(text) as number) > 0,
        'time looks like 30, 2:00:00 or 1-12:00:00 (minutes, h:mm:ss, days-hours)'
      ),
    cpus: z
      .number()
      .int('CPUs: a whole number')
      .min(1, 'at least 1 CPU')
      .max(4096)
      .optional(),
    memory: z
      .string()
      .regex(MEMORY, 'memory looks like 4000 (MB), 16G or 512M')
      .optional(),
    account: optionalName('account'),
    qos: optionalName('QOS'),
    constraint: z
      .string()
      .regex(CONSTRAINT, 'constraint: feature names joined by & | ,')
      .optional(),
    jobName: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
        "job name: letters, digits, '.', '_' and '-' only"
      )
      .optional(),
    environment: environmentSchema.default({ modules: [], init: [] })
  })
  .strict();

/** What a form or the CLI sends. */
export type AllocationRequestInput = z.input<typeof allocationRequestSchema>;
/** A validated request, defaults applied. */
export type AllocationRequest = z.output<typeof allocationRequestSchema>;

/** A request problem, tied to the form field at fault. */
export interface IFieldProblem {
  field: keyof AllocationRequestInput;
  message: string;
}

/** The part of the cluster description a request is checked against. */
export interface IClusterLimits {
  partitions: ReadonlyArray<{
    name: string;
    state: string;
    maxTimeMinutes: number | null;
    gpus: { types: ReadonlyArray<{ type: string | null; maxPerNode: number }> };
  }>;
  /** The user's accounts and QOS where Slurm has accounting; none known, none checked. */
  accounts?: ReadonlyArray<string>;
  qos?: ReadonlyArray<string>;
}

/**
 * Checks a well-formed request against what the cluster really has: the partition exists and is up,
 * some node of it has that many GPUs of that type, the time fits the partition's MaxTime, and the
 * account and QOS are the user's where Slurm's accounting lists them.
 *
 * #### Notes
 * Returns the first problem, or null. Slurm stays the final judge (limits it alone knows); this
 * catches what would otherwise only fail, or pend forever, after submission.
 */
export function checkAgainstCluster(
  request: AllocationRequest,
  cluster: IClusterLimits
): IFieldProblem | null {
  const partition = cluster.partitions.find(p => p.name === request.partition);
  if (!partition) {
    const known = cluster.partitions.map(p => p.name).join(', ');
    return {
      field: 'partition',
      message: `no partition "${request.partition}" on this cluster (there are: ${known})`
    };
  }
  if (!/^UP$/i.test(partition.state)) {
    return {
      field: 'partition',
      message: `partition ${partition.name} is ${partition.state.toLowerCase()}`
    };
  }
  const minutes = parseSlurmMinutes(request.time);
  if (
    typeof minutes === 'number' &&
    partition.maxTimeMinutes !== null &&
    minutes > partition.maxTimeMinutes
  ) {
    return {
      field: 'time',
      message: `partition ${partition.name} allows at most ${formatSlurmMinutes(partition.maxTimeMinutes)}`
    };
  }
  if (request.gres) {
    const gres = parseGresRequest(request.gres);
    if (gres && gres.name === 'gpu') {
      const types = partition.gpus.types.filter(
        t => gres.type === null || t.type === gres.type
      );
      if (types.length === 0) {
        const offered =
          partition.gpus.types.map(t => t.type ?? 'untyped').join(', ') ||
          'none';
        return {
          field: 'gres',
          message: gres.type
            ? `partition ${partition.name} has no ${gres.type} GPUs (it has: ${offered})`
            : `partition ${partition.name} has no GPUs`
        };
      }
      const most = Math.max(...types.map(t => t.maxPerNode));
      if (gres.count > most) {
        return {
          field: 'gres',
          message: `no node of ${partition.name} has ${gres.count} ${gres.type ? `${gres.type} ` : ''}GPUs; at most ${most} per node`
        };
      }
    }
  }
  return (
    notTheUsers('account', 'account', request.account, cluster.accounts) ??
    notTheUsers('qos', 'QOS', request.qos, cluster.qos)
  );
}

/** An account or QOS the user has no association with, where accounting lists the ones they have. */
function notTheUsers(
  field: 'account' | 'qos',
  label: string,
  value: string | undefined,
  known: ReadonlyArray<string> | undefined
): IFieldProblem | null {
  if (!value || !known || known.length === 0 || known.includes(value)) {
    return null;
  }
  return {
    field,
    message: `you have no ${label} "${value}" on this cluster (yours: ${known.join(', ')})`
  };
}

/**
 * Where an allocation is in its life: submitted → pending → running → ready (gateway up, kernels
 * published) → ending → ended. `failed` is an end too: the job ran but the gateway never came up,
 * or Slurm refused the job.
 */
export const allocationStates = [
  'submitted',
  'pending',
  'running',
  'ready',
  'ending',
  'ended',
  'failed'
] as const;
export type AllocationState = (typeof allocationStates)[number];

export const kernelspecRefSchema = z.object({
  /** The local kernelspec name, slurm-<jobid>-<remote name>. */
  name: z.string(),
  displayName: z.string(),
  language: z.string()
});

export const allocationProblemKinds = [
  'slurm_unreachable',
  'node_unreachable',
  /** A lab on a laptop: its one login to the cluster was lost and is being rebuilt. */
  'cluster_unreachable',
  'submission_unconfirmed',
  'cancel_pending'
] as const;

export const allocationProblemSchema = z.object({
  kind: z.enum(allocationProblemKinds),
  message: z.string(),
  /** ISO time it was first seen. */
  since: z.string()
});

/**
 * When an allocation is cancelled on the user's behalf (minutes, 0: never): once its last kernel has
 * been shut down this long, when none of its kernels has run code this long, or when its GPUs have
 * all been at 0 % this long while no code runs. The lab sends the user's settings; the site's
 * policy is applied too, the stricter limit winning.
 */
export const cancelPolicySchema = z
  .object({
    noKernelMinutes: z
      .number()
      .nonnegative()
      .max(7 * 24 * 60),
    idleMinutes: z
      .number()
      .nonnegative()
      .max(7 * 24 * 60),
    /**
     * Flag an allocation whose GPUs have all been at 0 % this long (minutes; 0: never); 30 where
     * unset. A flag, not a cancel.
     */
    gpuIdleMinutes: z
      .number()
      .nonnegative()
      .max(7 * 24 * 60)
      .optional(),
    /**
     * Cancel an allocation whose GPUs have all been at 0 % this long while no cell runs
     * (minutes; 0 or unset: never). Unknown use (MIG, samples that stopped coming) is never idle.
     */
    gpuIdleCancelMinutes: z
      .number()
      .nonnegative()
      .max(7 * 24 * 60)
      .optional()
  })
  .strict();

/**
 * How the companion reaches a job's gateway: ssh to the node (its own ssh2), the user's OpenSSH
 * client (where only it can log in or verify the node), or a relay step through srun.
 */
export const transportKinds = ['ssh', 'openssh', 'srun'] as const;
/** `auto` tries ssh and falls back to srun; the others force one. */
export const transportModes = ['auto', ...transportKinds] as const;

export const transportSchema = z.object({
  kind: z.enum(transportKinds),
  /** Why this one, when it is not the first choice (ssh refused, and how). */
  note: z.string().nullable()
});

/** A cancel on the way: when, and which limit it follows from. "Keep" puts it off. */
export const autoCancelSchema = z.object({
  /** ISO time. */
  at: z.string(),
  why: z.enum(['no_kernel', 'idle', 'gpu_idle'])
});

/** A GPU as nvidia-smi lists it (the binding check's evidence). */
export const gpuDeviceSchema = z.object({
  index: z.number(),
  uuid: z.string(),
  busId: z.string().nullable(),
  name: z.string(),
  memoryTotalMiB: z.number().nullable()
});

/** One sample of one GPU; null where nvidia-smi gives no value (utilisation on MIG), never 0. */
export const gpuSampleSchema = z.object({
  /** ms since the epoch. */
  t: z.number(),
  utilizationGpu: z.number().nullable(),
  memoryUsedMiB: z.number().nullable()
});

/**
 * What an allocation's kernels see of its GPUs, and what those GPUs do: checked when its gateway is
 * up, sampled in the job while it runs.
 */
export const allocationGpusSchema = z.object({
  /** GPUs asked for (on the gateway's node). */
  requested: z.number(),
  /** The devices the kernels will use, in CUDA's order; null where nvidia-smi cannot say. */
  devices: z.array(gpuDeviceSchema).nullable(),
  /** "2× NVIDIA H100 80GB HBM3, 79.6 GiB each". */
  summary: z.string(),
  /** Kernels that see none, fewer or more GPUs than asked for, or nothing that tells. */
  problem: z
    .object({
      kind: z.enum(['none', 'fewer', 'more', 'unknown']),
      message: z.string()
    })
    .nullable(),
  /** The raw evidence: the job's variables and what nvidia-smi printed (or why it could not). */
  evidence: z.object({
    node: z.string().nullable(),
    environment: z.record(z.string(), z.string().nullable()),
    nvidiaSmi: z.string()
  }),
  /** The job's sampler: running, absent (no nvidia-smi), failed (with why). */
  sampler: z.object({
    state: z.enum(['starting', 'running', 'absent', 'failed']),
    message: z.string().nullable()
  }),
  /** Recent samples, per GPU the kernels use (every GPU listed where which is unknown). */
  series: z.array(
    z.object({
      uuid: z.string(),
      index: z.number(),
      name: z.string(),
      memoryTotalMiB: z.number().nullable(),
      samples: z.array(gpuSampleSchema)
    })
  ),
  /**
   * Since when every GPU of the kernels has been at 0 % (ISO), or null while one is busy or does
   * not say; `flagged` once that has lasted the idle window (`minutes`).
   */
  idle: z.object({
    since: z.string().nullable(),
    flagged: z.boolean(),
    minutes: z.number()
  })
});

export const allocationSchema = z.object({
  id: z.string(),
  jobId: z.string().nullable(),
  request: allocationRequestSchema,
  state: z.enum(allocationStates),
  /** Slurm's raw state, e.g. PENDING, RUNNING, CANCELLED, TIMEOUT. */
  slurmState: z.string().nullable(),
  /** While pending: Slurm's reason code and what it means in plain words. */
  pendingReason: z.object({ code: z.string(), text: z.string() }).nullable(),
  /** ISO times, when Slurm knows them. */
  estimatedStart: z.string().nullable(),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
  node: z.string().nullable(),
  kernelspecs: z.array(kernelspecRefSchema),
  /** How it ended: Slurm's final state and exit code, or why the gateway failed. */
  outcome: z
    .object({
      state: z.string(),
      exitCode: z.string().nullable(),
      message: z.string(),
      /** Cancelled by the cancel policy (no kernel, or idle), not by the user. */
      autoCancelled: z.boolean().optional()
    })
    .nullable(),
  /**
   * What stands in the way while the allocation lives, or null: Slurm or the node not answering
   * (nothing is ended or cancelled for it), a submission sbatch did not confirm, a cancel Slurm has
   * yet to carry out. Records from older companions lack it.
   */
  problem: allocationProblemSchema.nullable().optional(),
  /** While ready: the cancel its policy has scheduled (no kernel, or idle), or null. */
  autoCancel: autoCancelSchema.nullable().optional(),
  /** While ready: how the companion reaches its gateway. */
  transport: transportSchema.nullable().optional(),
  /** While ready: its GPUs, as its kernels see them, and their use; null before the first report. */
  gpus: allocationGpusSchema.nullable().optional(),
  /** GPUs × hours held, from Slurm's start (and end) times; null before it started or without GPUs. */
  gpuHours: z.number().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string()
});

/** GPUs a request asks for (0 without a GPU GRES). */
export function gpusAsked(request: Pick<AllocationRequest, 'gres'>): number {
  const gres = request.gres ? parseGresRequest(request.gres) : undefined;
  return gres?.name === 'gpu' ? gres.count : 0;
}

/**
 * GPU-hours held: GPUs × hours from Slurm's start to its end (or now, while it runs), counted from
 * `from` on (a lab session's start) where given; null before it started or without GPUs.
 */
export function gpuHoursOf(
  allocation: Pick<Allocation, 'request' | 'startTime' | 'endTime' | 'state'>,
  now = Date.now(),
  from = 0
): number | null {
  const gpus = gpusAsked(allocation.request);
  if (!allocation.startTime || gpus === 0) {
    return null;
  }
  const end =
    (allocation.state === 'ended' || allocation.state === 'failed') &&
    allocation.endTime
      ? Math.min(now, Date.parse(allocation.endTime))
      : now;
  const start = Math.max(from, Date.parse(allocation.startTime));
  return (gpus * Math.max(0, end - start)) / 3_600_000;
}

export type KernelspecRef = z.infer<typeof kernelspecRefSchema>;
export type Allocation = z.infer<typeof allocationSchema>;
export type AllocationProblem = z.infer<typeof allocationProblemSchema>;
export type CancelPolicy = z.infer<typeof cancelPolicySchema>;
export type AutoCancel = z.infer<typeof autoCancelSchema>;
export type TransportKind = (typeof transportKinds)[number];
export type TransportMode = (typeof transportModes)[number];
export type Transport = z.infer<typeof transportSchema>;
export type AllocationGpus = z.infer<typeof allocationGpusSchema>;
export type GpuDevice = z.infer<typeof gpuDeviceSchema>;
export type GpuSample = z.infer<typeof gpuSampleSchema>;
