/**
 * Allocations: from a validated request to a running gateway with published kernelspecs, and back.
 *
 *   submitted → pending (reason, estimated start) → running (node, times) → ready → ending → ended
 *                                                               ↘ failed (gateway never came up)
 *
 * One `squeue` call per poll covers every active job of the user; polls are fast only while
 * something is starting, slow while everything is ready, and stop when nothing is active. State is
 * persisted under the user's state dir, and jobs carry a tag (their comment) so a restarted
 * companion re-adopts its own jobs and never touches anybody else's.
 */
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Allocation,
  AllocationRequest,
  AllocationRequestInput,
  allocationRequestSchema,
  checkAgainstCluster
} from '../../../src/api/allocation';
import {
  GATEWAY_CONFIG,
  KERNEL_WS_MODULE,
  buildJobScript,
  IJobFiles
} from '../gateway/jobScript';
import { readKernelWsModule } from '../gateway/kernelWsModule';
import { HttpError } from '../http/errors';
import type { SiteDefaults } from '../../../src/api/cluster';
import { withSiteDefaults } from '../../../src/api/site';
import type { IClusterSource } from '../routes/cluster';
import {
  cancelJob,
  describePendingReason,
  ICommandRunner,
  IJobInfo,
  listJobs,
  readFinalState,
  submitJob
} from '../slurm';
import {
  ensurePrivateDir,
  newSecret,
  readJsonIfExists,
  writePrivateFile
} from '../state/files';
import { DEFAULT_STARTUP_LIMITS, Gateway, IStartupLimits } from './gateway';

/** The comment every job of ours carries. */
export const JOB_TAG = 'slurm-kernels';

export interface IAllocationEvents {
  changed: [Allocation];
  progress: [{ id: string; message: string }];
}

export interface IManagerOptions {
  runner: ICommandRunner;
  cluster: IClusterSource;
  stateDir: string;
  gateway: Gateway;
  log: {
    info: (o: object, m: string) => void;
    warn: (o: object, m: string) => void;
  };
  /** The site's defaults for fields a request leaves out (its `environment` is the CLI's). */
  defaults?: SiteDefaults;
  /** How often the state dir is looked at for allocations of other companions, in ms. */
  refreshMs?: number;
  /** Poll intervals in ms: while something is starting, and while all are ready. */
  fastPollMs?: number;
  slowPollMs?: number;
  /**
   * How long a RUNNING job may go without progress (its log does not grow) before its gateway is
   * declared failed, and how long it may take in all.
   */
  gatewayStartup?: IStartupLimits;
}

interface IRecord {
  allocation: Allocation;
  files: IJobFiles;
  /** Set while the gateway is being reached, so a poll does not start it twice. */
  connecting?: boolean;
}

const ACTIVE_SLURM_STATES = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'RESIZING',
  'REQUEUED'
]);

export class AllocationManager extends EventEmitter<IAllocationEvents> {
  constructor(private readonly _o: IManagerOptions) {
    super();
    // A kernel lost its gateway: look at the job now, not at the next slow poll.
    _o.gateway.on('connection-lost', () => this._pollSoon());
  }

  private get _dir(): string {
    return path.join(this._o.stateDir, 'allocations');
  }

  /** Loads persisted allocations, re-adopts live jobs, sweeps leftovers. */
  async init(): Promise<void> {
    await ensurePrivateDir(this._dir);
    await this.refresh();
    const live = new Set(
      [...this._records.values()]
        .filter(r => isActive(r.allocation))
        .map(r => r.allocation.id)
    );
    const swept = await this._o.gateway.kernelspecs.sweep(live);
    if (swept.length) {
      this._o.log.info(
        { swept },
        'removed kernelspecs of allocations that ended while the companion was away'
      );
    }
    // Companions on other login nodes share this state dir: what they submit shows up here too.
    this._refreshTimer = setInterval(
      () => void this.refresh(),
      this._o.refreshMs ?? 10_000
    );
    this._refreshTimer.unref();
    this._schedulePoll(0);
  }

  /**
   * Adopts allocations that appeared in the state dir since: submitted by this user's companion on
   * another login node (the state dir lives in the shared home), or by an earlier companion here.
   * Those that ended weeks ago are pruned instead.
   */
  async refresh(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this._dir);
    } catch {
      return;
    }
    let adopted = false;
    for (const name of names) {
      const known = this._records.get(name);
      if (known) {
        adopted ||= await this._endedElsewhere(known);
        continue;
      }
      if (this._unreadable.has(name)) {
        continue;
      }
      const record = await this._load(name);
      if (!record || this._records.has(record.allocation.id)) {
        continue;
      }
      if (!isActive(record.allocation) && isStale(record.allocation)) {
        // Ended weeks ago: its job log and token go; the list keeps what is recent.
        await fs.rm(record.files.dir, { recursive: true, force: true });
        continue;
      }
      if (record.allocation.state === 'ready') {
        // Its gateway must be reached from here: the next poll connects and publishes.
        record.allocation.state = 'running';
      }
      this._records.set(record.allocation.id, record);
      this._changed(record);
      adopted = true;
    }
    if (adopted) {
      this._schedulePoll(0);
    }
  }

  /**
   * Whether another login node's companion saved this live allocation as ending or ended (cancelled
   * there): then Slurm is asked now, not at the next slow poll.
   */
  private async _endedElsewhere(record: IRecord): Promise<boolean> {
    if (!isActive(record.allocation) || record.allocation.state === 'ending') {
      return false;
    }
    const saved = await this._load(record.allocation.id);
    return (
      saved !== undefined &&
      saved.allocation.state !== record.allocation.state &&
      (saved.allocation.state === 'ending' || !isActive(saved.allocation))
    );
  }

  /**
   * Resolves once the allocation's gateway is reached from this host (a kernelspec published by a
   * companion on another login node is started here before this one has connected).
   */
  async whenConnected(id: string, timeoutMs = 60_000): Promise<void> {
    await this.refresh();
    const deadline = Date.now() + timeoutMs;
    while (!this._o.gateway.isConnected(id)) {
      const record = this._records.get(id);
      if (!record || !isActive(record.allocation)) {
        throw new Error(`allocation ${id} has ended`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the gateway of allocation ${id} was not reached in ${Math.round(timeoutMs / 1000)} s`
        );
      }
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  }

  /** One persisted allocation; one that cannot be read is left as it is, and said so. */
  private async _load(name: string): Promise<IRecord | undefined> {
    const file = path.join(this._dir, name, 'record.json');
    try {
      const saved = (await readJsonIfExists(file)) as IRecord | undefined;
      if (saved?.allocation?.id && saved.files?.dir) {
        return { allocation: saved.allocation, files: saved.files };
      }
    } catch (err) {
      this._unreadable.add(name);
      this._o.log.warn(
        { file, err: (err as Error).message },
        'skipped an allocation record that cannot be read'
      );
    }
    return undefined;
  }

  list(): Allocation[] {
    return [...this._records.values()]
      .map(r => r.allocation)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** An allocation named by its id or by its Slurm job id (what squeue and notifications show). */
  get(ref: string): Allocation {
    return this._record(ref).allocation;
  }

  private _record(ref: string): IRecord {
    const byId = this._records.get(ref);
    if (byId) {
      return byId;
    }
    const byJob = [...this._records.values()].filter(
      r => r.allocation.jobId === ref
    );
    // Job ids repeat when a cluster's ids start over: the live allocation is the one meant.
    const live = byJob.filter(r => isActive(r.allocation));
    const candidates = live.length > 0 ? live : byJob;
    if (candidates.length === 1) {
      return candidates[0];
    }
    if (candidates.length > 1) {
      const ids = candidates.map(r => r.allocation.id).join(', ');
      throw new HttpError(
        409,
        'ambiguous',
        `job ${ref} belongs to ${candidates.length} allocations (${ids}); name one by its allocation id`
      );
    }
    throw new HttpError(
      404,
      'not_found',
      `no allocation or job ${ref} (see: slurm-kernels list)`
    );
  }

  /**
   * Validates a request (format, then the cluster's real partitions, GRES and limits) and submits it.
   *
   * #### Notes
   * Rejects with a 400 HttpError naming the field for a bad request, before anything reaches Slurm;
   * with a 502 when sbatch refuses the job (its message included).
   */
  /**
   * The job script a request would be submitted with (the form shows it before Submit), after the
   * same checks as request(); nothing is written or submitted.
   */
  async preview(input: AllocationRequestInput): Promise<string> {
    const request = await this._checked(input);
    return buildJobScript(
      request,
      jobFiles(path.join(this._dir, '<allocation>'))
    );
  }

  private async _checked(
    input: AllocationRequestInput
  ): Promise<AllocationRequest> {
    const request = validateRequest(
      typeof input === 'object' && input !== null
        ? withSiteDefaults(input, this._o.defaults)
        : input
    );
    const problem = checkAgainstCluster(
      request,
      await this._o.cluster.get({ fresh: true })
    );
    if (problem) {
      throw new HttpError(
        400,
        'invalid_request',
        problem.message,
        problem.field
      );
    }
    return request;
  }

  async request(input: AllocationRequestInput): Promise<Allocation> {
    const request = await this._checked(input);
    const id = `${Date.now().toString(36)}-${newSecret(4)}`;
    const dir = await ensurePrivateDir(path.join(this._dir, id));
    const files = jobFiles(dir);
    await writePrivateFile(files.tokenFile, newSecret());
    await writePrivateFile(files.gatewayConfig, GATEWAY_CONFIG);
    // The same file for every job: read once.
    this._kernelWsModule ??= readKernelWsModule();
    await writePrivateFile(files.gatewayModule, await this._kernelWsModule);
    const allocation = newAllocation(id, request);
    const record: IRecord = { allocation, files };
    this._records.set(id, record);
    try {
      allocation.jobId = await submitJob(this._o.runner, {
        script: buildJobScript(request, files),
        partition: request.partition,
        gres: request.gres,
        time: request.time,
        cpus: request.cpus,
        memory: request.memory,
        account: request.account,
        qos: request.qos,
        constraint: request.constraint,
        jobName: request.jobName ?? `slurm-kernels-${id}`,
        comment: JOB_TAG,
        output: path.join(dir, 'job.log'),
        workdir: os.homedir()
      });
    } catch (err) {
      this._records.delete(id);
      await fs.rm(dir, { recursive: true, force: true });
      throw new HttpError(
        502,
        'slurm_refused',
        `Slurm refused the job: ${(err as Error).message}`
      );
    }
    await this._save(record);
    this._o.log.info({ id, jobId: allocation.jobId }, 'submitted');
    this._changed(record);
    this._schedulePoll(0);
    return allocation;
  }

  /** Cancels the allocation's job; its kernels end and its kernelspecs go with it. */
  async cancel(ref: string): Promise<Allocation> {
    const record = this._record(ref);
    if (record.allocation.jobId && isActive(record.allocation)) {
      await cancelJob(this._o.runner, record.allocation.jobId);
      this._update(record, { state: 'ending' });
      this._schedulePoll(0);
    }
    return record.allocation;
  }

  /** The tail of the job's output file (stdout and stderr). */
  async log(ref: string, maxBytes = 64 * 1024): Promise<string> {
    const record = this._record(ref);
    return tailFile(path.join(record.files.dir, 'job.log'), maxBytes);
  }

  /** Stops polling (kernels and jobs keep running; a restarted companion re-adopts them). */
  dispose(): void {
    this._disposed = true;
    if (this._refreshTimer) {
      clearInterval(this._refreshTimer);
    }
    if (this._timer) {
      clearTimeout(this._timer);
    }
  }

  private _pollSoon(): void {
    this._schedulePoll(0);
  }

  private _schedulePoll(delayMs: number): void {
    if (this._disposed) {
      return;
    }
    if (this._timer) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => void this._poll(), delayMs);
  }

  /** One poll at a time: a poll asked for while one runs comes right after it. */
  private async _poll(): Promise<void> {
    this._timer = null;
    if (this._polling) {
      this._pollAgain = true;
      return;
    }
    this._polling = true;
    try {
      await this._pollOnce();
    } finally {
      this._polling = false;
    }
    if (this._pollAgain) {
      this._pollAgain = false;
      this._schedulePoll(0);
    }
  }

  private async _pollOnce(): Promise<void> {
    const active = [...this._records.values()].filter(
      r => isActive(r.allocation) && r.allocation.jobId
    );
    if (active.length === 0) {
      return; // nothing to watch: no polling until the next request
    }
    try {
      const jobs = await listJobs(this._o.runner, {
        jobIds: active.map(r => r.allocation.jobId as string)
      });
      const byId = new Map(jobs.map(j => [j.id, j]));
      const pending = active.filter(
        r => byId.get(r.allocation.jobId as string)?.state === 'PENDING'
      );
      const starts = pending.length
        ? await this._estimatedStarts(
            pending.map(r => r.allocation.jobId as string)
          )
        : new Map();
      for (const record of active) {
        await this._apply(
          record,
          byId.get(record.allocation.jobId as string),
          starts.get(record.allocation.jobId)
        );
      }
    } catch (err) {
      this._o.log.warn(
        { err: (err as Error).message },
        'poll failed; retrying'
      );
    }
    const starting = [...this._records.values()].some(
      r => isActive(r.allocation) && r.allocation.state !== 'ready'
    );
    const anyActive = [...this._records.values()].some(r =>
      isActive(r.allocation)
    );
    if (anyActive) {
      this._schedulePoll(
        starting ? (this._o.fastPollMs ?? 1000) : (this._o.slowPollMs ?? 30_000)
      );
    }
  }

  private async _apply(
    record: IRecord,
    job: IJobInfo | undefined,
    estimatedStart: string | undefined
  ): Promise<void> {
    if (
      !job ||
      !ACTIVE_SLURM_STATES.has(job.state) ||
      job.state === 'COMPLETING'
    ) {
      await this._finish(record, job);
      return;
    }
    if (job.state === 'PENDING') {
      this._update(record, {
        state: 'pending',
        slurmState: job.state,
        pendingReason: {
          code: job.reason,
          text: describePendingReason(job.reason)
        },
        estimatedStart: estimatedStart ?? null
      });
      return;
    }
    if (
      job.state === 'RUNNING' &&
      record.allocation.state !== 'ready' &&
      record.allocation.state !== 'ending'
    ) {
      this._update(record, {
        state: 'running',
        slurmState: job.state,
        pendingReason: null,
        node: job.nodes.split(',')[0] || null,
        startTime: slurmTime(job.startTime),
        endTime: slurmTime(job.endTime)
      });
      if (!record.connecting) {
        void this._connectGateway(record);
      }
    }
  }

  /** RUNNING → ready: wait for the job's rendezvous, reach the gateway, publish its kernelspecs. */
  private async _connectGateway(record: IRecord): Promise<void> {
    record.connecting = true;
    const a = record.allocation;
    try {
      this.emit('progress', {
        id: a.id,
        message: `job ${a.jobId} is running on ${a.node}; waiting for its gateway`
      });
      const published = await this._o.gateway.connect(
        record.allocation,
        record.files,
        this._o.gatewayStartup ?? DEFAULT_STARTUP_LIMITS,
        () => isActive(this._records.get(a.id)?.allocation ?? a)
      );
      if (a.state === 'ending' || !isActive(a)) {
        return;
      }
      this._update(record, { state: 'ready', kernelspecs: published });
      this._o.log.info(
        { id: a.id, jobId: a.jobId, kernelspecs: published.map(k => k.name) },
        'ready'
      );
    } catch (err) {
      if (!isActive(a)) {
        return;
      }
      const message = await this._withLogTail(
        record,
        `the gateway did not come up: ${(err as Error).message}`
      );
      this._o.log.warn(
        { id: a.id, jobId: a.jobId, err: (err as Error).message },
        'gateway failed'
      );
      this._update(record, {
        state: 'failed',
        outcome: { state: 'GATEWAY_FAILED', exitCode: null, message }
      });
      if (a.jobId) {
        await cancelJob(this._o.runner, a.jobId).catch(() => undefined);
      }
      await this._o.gateway.release(a);
    } finally {
      record.connecting = false;
    }
  }

  private async _finish(
    record: IRecord,
    job: IJobInfo | undefined
  ): Promise<void> {
    const a = record.allocation;
    const final = await this._finalState(a.jobId as string, job);
    if (final.state === 'COMPLETING') {
      // squeue already says CANCELLED or TIMEOUT while scontrol still reports the job's processes
      // ending: no new kernels meanwhile; the running ones hear why with the final word, next poll.
      await this._o.gateway.kernelspecs.removeJob(a.jobId as string);
      this._update(record, {
        state: a.state === 'failed' ? 'failed' : 'ending',
        kernelspecs: []
      });
      return;
    }
    await this._o.gateway.release(a, final.message);
    if (a.state === 'failed') {
      this._update(record, { kernelspecs: [], slurmState: final.state });
      return;
    }
    // An end the user did not ask for comes with the last lines the job wrote.
    const unexpected =
      final.state !== 'COMPLETED' && final.state !== 'CANCELLED';
    const outcome = unexpected
      ? { ...final, message: await this._withLogTail(record, final.message) }
      : final;
    this._update(record, {
      state: 'ended',
      slurmState: final.state,
      pendingReason: null,
      kernelspecs: [],
      outcome
    });
    this._o.log.info({ id: a.id, jobId: a.jobId, ...final }, 'ended');
  }

  /** A message followed by the last lines of the job's log, so the cause is in sight. */
  private async _withLogTail(
    record: IRecord,
    message: string
  ): Promise<string> {
    const tail = (
      await tailFile(path.join(record.files.dir, 'job.log'), 4096).catch(
        () => ''
      )
    )
      .trimEnd()
      .split('\n')
      .slice(-8)
      .join('\n');
    return tail ? `${message}\nThe job's last lines:\n${tail}` : message;
  }

  /** Slurm's final word on a job (scontrol, then sacct), else what squeue last said. */
  private async _finalState(
    jobId: string,
    job: IJobInfo | undefined
  ): Promise<{ state: string; exitCode: string | null; message: string }> {
    const final = await readFinalState(this._o.runner, jobId).catch(() => null);
    const state = final?.state ?? job?.state ?? 'UNKNOWN';
    const exitCode = final?.exitCode ?? null;
    return {
      state,
      exitCode,
      message: endMessage(state, exitCode, final?.reason ?? undefined)
    };
  }

  private async _estimatedStarts(
    jobIds: string[]
  ): Promise<Map<string, string>> {
    const result = await this._o.runner.run([
      'squeue',
      '--all',
      '--start',
      '--noheader',
      `--jobs=${jobIds.join(',')}`,
      '--format=%i|%S'
    ]);
    const starts = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const [id, start] = line.trim().split('|');
      const iso = slurmTime(start ?? '');
      if (id && iso) {
        starts.set(id, iso);
      }
    }
    return starts;
  }

  private _update(record: IRecord, changes: Partial<Allocation>): void {
    const before = JSON.stringify(record.allocation);
    Object.assign(record.allocation, changes);
    if (JSON.stringify(record.allocation) === before) {
      return;
    }
    record.allocation.updatedAt = new Date().toISOString();
    void this._save(record);
    this._changed(record);
  }

  private _changed(record: IRecord): void {
    this.emit('changed', record.allocation);
  }

  /**
   * Persists a record. Writes of one record are chained so they land in order; a failed write is
   * logged, never thrown into whoever changed the state.
   */
  private _save(record: IRecord): Promise<void> {
    const previous =
      this._saving.get(record.allocation.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this._disposed) {
        return;
      }
      try {
        await writePrivateFile(
          path.join(record.files.dir, 'record.json'),
          JSON.stringify(
            { allocation: record.allocation, files: record.files },
            null,
            1
          )
        );
      } catch (err) {
        this._o.log.warn(
          { id: record.allocation.id, err: (err as Error).message },
          'could not save the allocation'
        );
      }
    });
    this._saving.set(record.allocation.id, next);
    return next;
  }

  private _records = new Map<string, IRecord>();
  /** Record dirs whose record.json could not be read: said once, not at every refresh. */
  private _unreadable = new Set<string>();
  private _refreshTimer: NodeJS.Timeout | null = null;
  private _saving = new Map<string, Promise<void>>();
  private _timer: NodeJS.Timeout | null = null;
  private _kernelWsModule: Promise<string> | undefined;
  private _polling = false;
  private _pollAgain = false;
  private _disposed = false;
}

/** Where an allocation's files live in its directory. */
function jobFiles(dir: string): IJobFiles {
  return {
    dir,
    tokenFile: path.join(dir, 'token'),
    rendezvousFile: path.join(dir, 'rendezvous.json'),
    gatewayConfig: path.join(dir, 'gateway_config.py'),
    gatewayModule: path.join(dir, `${KERNEL_WS_MODULE}.py`)
  };
}

/** An allocation just asked for: submitted, nothing known of its job yet. */
export function newAllocation(
  id: string,
  request: AllocationRequest,
  now = new Date()
): Allocation {
  return {
    id,
    jobId: null,
    request,
    state: 'submitted',
    slurmState: null,
    pendingReason: null,
    estimatedStart: null,
    startTime: null,
    endTime: null,
    node: null,
    kernelspecs: [],
    outcome: null,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString()
  };
}

export function validateRequest(input: unknown): AllocationRequest {
  const parsed = allocationRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.map(String).join('.') || undefined;
    throw new HttpError(
      400,
      'invalid_request',
      field ? `${field}: ${issue.message}` : issue.message,
      field
    );
  }
  return parsed.data;
}

/** Ended allocations are kept this long (their log stays readable), then pruned at start. */
const KEEP_ENDED_MS = 14 * 24 * 3600_000;

function isStale(a: Allocation): boolean {
  return Date.now() - new Date(a.updatedAt).getTime() > KEEP_ENDED_MS;
}

export function isActive(a: Allocation): boolean {
  return a.state !== 'ended' && a.state !== 'failed';
}

/** Slurm prints local times without a zone ("2026-11-23T07:35:20"), or N/A / Unknown. */
function slurmTime(text: string): string | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(text)) {
    return null;
  }
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function endMessage(
  state: string,
  exitCode: string | null,
  reason: string | undefined
): string {
  const words: Record<string, string> = {
    COMPLETED: 'The job finished.',
    CANCELLED: 'The job was cancelled.',
    TIMEOUT: 'The job reached its time limit.',
    OUT_OF_MEMORY: 'The job ran out of memory.',
    NODE_FAIL: 'The node of the job failed.',
    FAILED: 'The job failed.',
    PREEMPTED: 'The job was preempted by another job.',
    BOOT_FAIL: 'The node could not boot for the job.',
    DEADLINE: 'The job missed its deadline.'
  };
  const base = words[state] ?? `The job ended (${state}).`;
  // A cancelled job always ends on a signal; its exit code says nothing more.
  const code =
    exitCode && exitCode !== '0:0' && state !== 'CANCELLED'
      ? ` Exit code ${exitCode}.`
      : '';
  const why = reason && reason !== 'None' ? ` Slurm's reason: ${reason}.` : '';
  return `${base}${code}${why}`;
}

async function tailFile(file: string, maxBytes: number): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return '';
    }
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
