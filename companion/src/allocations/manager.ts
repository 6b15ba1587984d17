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
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import {
  Allocation,
  AllocationProblem,
  AllocationRequest,
  AllocationRequestInput,
  allocationRequestSchema,
  CancelPolicy,
  cancelPolicySchema,
  checkAgainstCluster,
  gpuHoursOf,
  gpusAsked
} from '../../../src/api/allocation';
import {
  DEAD_MAN_EXIT,
  DEFAULT_JOB_POLICY,
  GATEWAY_CONFIG,
  buildJobScript,
  IJobFiles,
  IJobPolicy
} from '../gateway/jobScript';
import { readGatewayModules } from '../gateway/gatewayModules';
import { GpuWatch } from '../gpus/watch';
import { HttpError } from '../http/errors';
import type { SiteDefaults } from '../../../src/api/cluster';
import { withSiteDefaults } from '../../../src/api/site';
import type { IClusterSource } from '../routes/cluster';
import {
  cancelJob,
  describePendingReason,
  ENDED_STATES,
  findJobsByComment,
  ICommandRunner,
  IFinalState,
  IJobInfo,
  isSlurmUnreachable,
  ISubmission,
  listJobs,
  lookUpJob,
  submitJob,
  surelyNotSubmitted
} from '../slurm';
import { newSecret } from '../state/files';
import {
  IStateFileSystem,
  localFileSystem,
  readJson
} from '../state/fileSystem';
import {
  autoCancelDue,
  autoCancelReason,
  DEFAULT_CANCEL_POLICY,
  DEFAULT_GPU_IDLE_MINUTES,
  IKernelUse,
  policyTickMs,
  strictestPolicy
} from './autoCancel';
import {
  DEFAULT_STARTUP_LIMITS,
  endedMessage,
  Gateway,
  IStartupLimits
} from './gateway';

/**
 * Every job of ours carries `slurm-kernels:<state dir key>:<allocation id>` as its comment: a
 * submission sbatch did not confirm is found by it, and a job whose record is gone is known as ours.
 */
export const JOB_TAG = 'slurm-kernels';

/** Whether a job's comment marks it as submitted by a companion (of any state dir). */
export function isOurJobComment(comment: string): boolean {
  return comment === JOB_TAG || comment.startsWith(`${JOB_TAG}:`);
}

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
  /**
   * How often Slurm is asked, in ms, by what the allocations are doing: just submitted, cancelled or
   * unconfirmed (fast, 1 s); a gateway starting (3 s); pending (every quarter of the time it has
   * pended, at most 90 s, and at once when the job's log appears or changes, which costs Slurm
   * nothing); all ready (120 s, and just after a time limit); while Slurm, or a ready job's node,
   * does not answer (10 s).
   */
  fastPollMs?: number;
  startingPollMs?: number;
  pendingPollMs?: number;
  slowPollMs?: number;
  retryPollMs?: number;
  /** The user whose jobs these are (squeue --user); by default the companion's own. */
  user?: string;
  /** What jobs do on their own (their dead-man's switch). */
  jobPolicy?: IJobPolicy;
  /** The site's limits for cancelling on the user's behalf: they apply where stricter. */
  sitePolicy?: Partial<CancelPolicy>;
  /** How often the cancel policy is looked at, in ms; by default from its shortest limit. */
  policyTickMs?: number;
  /**
   * How long a RUNNING job may go without progress (its log does not grow) before its gateway is
   * declared failed, and how long it may take in all.
   */
  gatewayStartup?: IStartupLimits;
  /**
   * Where `stateDir` is: this host's file system, or the cluster's over SFTP (a lab on a
   * laptop). Jobs read their files there.
   */
  files?: IStateFileSystem;
  /** The user's home where jobs run (their working directory); by default this host's. */
  home?: string;
  /**
   * Why the cluster itself cannot be reached now, else null: a laptop's login to it is being
   * rebuilt. Slurm's silence and the nodes' then say "cluster unreachable", not theirs.
   */
  clusterUnreachable?: () => string | null;
}

interface IRecord {
  allocation: Allocation;
  files: IJobFiles;
  /** Set while the gateway is being reached, so a poll does not start it twice. */
  connecting?: boolean;
  /** Set while sbatch runs here. */
  submitting?: boolean;
  /**
   * Persisted. sbatch gave no clear answer: the job may exist. It is looked for by its tag before
   * anything is submitted again.
   */
  unconfirmed?: boolean;
  /**
   * Persisted. A job we must see end (its gateway failed, or a cancel Slurm did not answer):
   * scancel is repeated at each poll until Slurm says it ended.
   */
  cancelOwed?: boolean;
  /** The job log's size and time at the last look at Slurm: its change means the job started. */
  logStamp?: string;
  /** When this companion first saw it pending. */
  pendingSince?: number;
  /** Persisted while ready: what its kernels did, for the cancel policy (survives restarts). */
  use?: IPersistedUse;
  /** Persisted. Why the policy cancelled it, for its outcome. */
  autoCancelled?: string;
}

type IPersistedUse = Omit<IKernelUse, 'kernels' | 'executing'> & {
  /** Whether a kernel ever ran in it: only then can its last one be shut down. */
  hadKernel?: boolean;
};

/** Slurm states of a job waiting to run (again): shown as pending, with Slurm's reason. */
const WAITING_STATES = new Set([
  'PENDING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'SPECIAL_EXIT',
  'RESV_DEL_HOLD'
]);

/** What may give way to "cluster unreachable", and back. */
const UNREACHABLE: ReadonlyArray<AllocationProblem['kind']> = [
  'node_unreachable',
  'cluster_unreachable',
  'slurm_unreachable'
];

/** After a kernel lost its gateway, Slurm is asked at once and again this much later. */
const LOOK_AGAIN_MS = 3_000;

/** A record saved as submitted with no job id this long ago lost its companion during sbatch. */
const SUBMIT_SETTLE_MS = 2 * 60_000;

export class AllocationManager extends EventEmitter<IAllocationEvents> {
  constructor(private readonly _o: IManagerOptions) {
    super();
    // A kernel lost its gateway: look at the job now, not at the next slow poll, and once more a
    // moment later: a gateway that died is seen before its job script has ended.
    _o.gateway.on('connection-lost', () => {
      this._pollSoon();
      setTimeout(() => this._pollSoon(), LOOK_AGAIN_MS).unref();
    });
    _o.gateway.whyEnded = id => this._whyEnded(id);
    _o.gateway.on('node-unreachable', (id: string, why: string) =>
      this._nodeUnreachable(id, why)
    );
    _o.gateway.on('node-reachable', (id: string) => {
      const record = this._records.get(id);
      const kind = record?.allocation.problem?.kind;
      if (
        record &&
        (kind === 'node_unreachable' || kind === 'cluster_unreachable')
      ) {
        this._update(record, { problem: null });
      }
    });
    this._stateKey = createHash('sha256')
      .update(path.resolve(_o.stateDir))
      .digest('hex')
      .slice(0, 8);
  }

  private get _fs(): IStateFileSystem {
    return this._o.files ?? localFileSystem;
  }

  private get _dir(): string {
    return path.join(this._o.stateDir, 'allocations');
  }

  private get _user(): string {
    return this._o.user ?? os.userInfo().username;
  }

  /** The comment an allocation's job carries: found by it when sbatch did not confirm. */
  jobTag(id: string): string {
    return `${JOB_TAG}:${this._stateKey}:${id}`;
  }

  /** Loads persisted allocations, re-adopts live jobs, sweeps leftovers. */
  async init(): Promise<void> {
    await this._fs.ensurePrivateDir(this._dir);
    await this._loadCancelPolicy();
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
    await this._cancelOrphans();
    // Companions on other login nodes share this state dir: what they submit shows up here too.
    this._refreshTimer = setInterval(
      () => void this.refresh(),
      this._o.refreshMs ?? 10_000
    );
    this._refreshTimer.unref();
    // In touch with every live job: their dead-man's switch stays off while a companion lives.
    const policy = this._o.jobPolicy ?? DEFAULT_JOB_POLICY;
    this._aliveTimer = setInterval(
      () => void this._touchJobs(),
      Math.min(60_000, (policy.deadManSeconds * 1000) / 4)
    );
    this._aliveTimer.unref();
    void this._touchJobs();
    this._schedulePolicy();
    this._pollSoon();
  }

  /**
   * A remote kernel of the allocation is gone: whether its job ended (Slurm marks it before the
   * gateway is signalled), and why; null while it runs.
   */
  private async _whyEnded(id: string): Promise<string | null> {
    const a = this._records.get(id)?.allocation;
    if (!a?.jobId) {
      return null;
    }
    if (a.state === 'ending' || !isActive(a)) {
      return endedMessage(a, a.outcome?.message);
    }
    const found = await lookUpJob(this._o.runner, a.jobId);
    if (
      found.kind === 'unreachable' ||
      (found.kind === 'known' &&
        !isEnded(found.state) &&
        found.state !== 'COMPLETING')
    ) {
      return null; // it runs (or nobody can say): the kernel died alone
    }
    this._pollSoon();
    return endedMessage(
      a,
      found.kind === 'known'
        ? endMessage(found.state, found.exitCode, found.reason ?? undefined)
        : undefined
    );
  }

  /** Touches the alive file of every live job (the job's dead-man's switch reads its age). */
  private async _touchJobs(): Promise<void> {
    for (const { allocation, files } of this._records.values()) {
      if (isActive(allocation) && allocation.jobId) {
        await this._fs.touch(files.aliveFile).catch(() => undefined);
      }
    }
  }

  /**
   * Cancels live jobs tagged for this state dir that no live allocation owns: their record was
   * deleted, or ended while the job went on (a companion killed between the two). Nobody else can
   * reach their gateway; left alone they would hold their GPUs to the time limit.
   */
  private async _cancelOrphans(): Promise<void> {
    let jobs: IJobInfo[];
    try {
      jobs = await listJobs(this._o.runner, { user: this._user });
    } catch {
      return; // Slurm does not answer: the next start looks again
    }
    const prefix = `${JOB_TAG}:${this._stateKey}:`;
    for (const job of jobs) {
      if (!job.comment.startsWith(prefix) || isEnded(job.state)) {
        continue;
      }
      const id = job.comment.slice(prefix.length);
      const owner = this._records.get(id);
      if (owner && (isActive(owner.allocation) || owner.cancelOwed)) {
        continue;
      }
      if (!owner && (await this._isBeingSubmitted(id))) {
        continue;
      }
      this._o.log.warn(
        { jobId: job.id, allocation: id },
        'cancelling a job of ours that no allocation owns any more'
      );
      await cancelJob(this._o.runner, job.id).catch(() => undefined);
    }
  }

  /** The job log's size and time, '' while it does not exist. */
  private async _logStamp(files: IJobFiles): Promise<string> {
    const s = await this._fs
      .stat(path.join(files.dir, 'job.log'))
      .catch(() => undefined);
    return s ? `${s.size}:${s.mtimeMs}` : '';
  }

  /** Whether another companion has just made this allocation's dir (its sbatch may be running). */
  private async _isBeingSubmitted(id: string): Promise<boolean> {
    return this._fs
      .stat(path.join(this._dir, id))
      .then(found => found !== undefined)
      .catch(() => false);
  }

  /**
   * Adopts allocations that appeared in the state dir since: submitted by this user's companion on
   * another login node (the state dir lives in the shared home), or by an earlier companion here.
   * Those that ended weeks ago are pruned instead.
   */
  async refresh(): Promise<void> {
    let names: string[];
    try {
      names = await this._fs.list(this._dir);
    } catch {
      return;
    }
    let adopted = false;
    for (const name of names) {
      const known = this._records.get(name);
      if (known) {
        adopted ||= await this._changedElsewhere(known);
        continue;
      }
      if (this._unreadable.has(name)) {
        continue;
      }
      const record = await this._load(name);
      if (!record || this._records.has(record.allocation.id)) {
        continue;
      }
      if (
        !isActive(record.allocation) &&
        !record.cancelOwed &&
        isStale(record.allocation)
      ) {
        // Ended weeks ago: its job log and token go; the list keeps what is recent.
        await this._fs.remove(record.files.dir);
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
      this._pollSoon();
    }
  }

  /**
   * Whether another login node's companion changed this live allocation in a way to act on now:
   * it cancelled it (saved as ending or ended), or its sbatch returned the job id.
   */
  private async _changedElsewhere(record: IRecord): Promise<boolean> {
    const a = record.allocation;
    if (!isActive(a) || a.state === 'ending' || record.submitting) {
      return false;
    }
    const saved = await this._load(a.id);
    if (!saved) {
      return false;
    }
    if (!a.jobId && saved.allocation.jobId) {
      Object.assign(a, saved.allocation);
      record.unconfirmed = saved.unconfirmed;
      this._changed(record);
      return true;
    }
    if (!a.jobId && !record.unconfirmed && saved.unconfirmed) {
      record.unconfirmed = true;
      return true;
    }
    return (
      saved.allocation.state !== a.state &&
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
      const saved = (await readJson(this._fs, file)) as IRecord | undefined;
      if (saved?.allocation?.id && saved.files?.dir) {
        const record: IRecord = {
          allocation: saved.allocation,
          // From its directory: files added since (the alive file) are where this version looks.
          files: jobFiles(saved.files.dir),
          unconfirmed: saved.unconfirmed,
          cancelOwed: saved.cancelOwed,
          use: saved.use,
          autoCancelled: saved.autoCancelled
        };
        if (lostDuringSubmission(record.allocation)) {
          // Its companion stopped while sbatch ran: whether the job exists is asked by its tag.
          record.unconfirmed = true;
        }
        return record;
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

  /** Whether an allocation is not over yet (its job pending, running or being cancelled). */
  get hasActive(): boolean {
    return [...this._records.values()].some(r => isActive(r.allocation));
  }

  /** The GPU idle flag's window, in minutes. */
  private get _gpuIdleMinutes(): number {
    return this.cancelPolicy.gpuIdleMinutes ?? DEFAULT_GPU_IDLE_MINUTES;
  }

  list(): Allocation[] {
    return [...this._records.values()]
      .map(r => this._view(r))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** An allocation named by its id or by its Slurm job id (what squeue and notifications show). */
  get(ref: string): Allocation {
    return this._view(this._record(ref));
  }

  /** An allocation as the API shows it: what is persisted, with what is live (its GPUs). */
  private _view(record: IRecord): Allocation {
    const a = record.allocation;
    return {
      ...a,
      gpus: this._gpuWatches.get(a.id)?.view(this._gpuIdleMinutes) ?? null,
      gpuHours: gpuHoursOf(a)
    };
  }

  /**
   * Follows a ready allocation's GPUs through its gateway while it is ready; a new watch for each
   * time it becomes ready (a reconnect, a companion restart: the gateway kept what it sampled).
   */
  private _watchGpus(record: IRecord): void {
    const a = record.allocation;
    const watching = this._gpuWatches.get(a.id);
    // CPU-only allocations have no GPUs to show (on a node without a device cgroup nvidia-smi
    // would list other jobs' GPUs).
    if (
      a.state === 'ready' &&
      !watching &&
      !this._disposed &&
      gpusAsked(a.request) > 0
    ) {
      const watch = new GpuWatch({
        // Nothing asked of a node out of reach: its kernels' reconnect has the link to itself.
        fetch: since =>
          a.problem?.kind === 'node_unreachable' ||
          a.problem?.kind === 'cluster_unreachable'
            ? Promise.reject(new Error('the node does not answer'))
            : this._o.gateway.gpuReport(a.id, since),
        requested: gpusAsked(a.request),
        node: a.node,
        onChange: () => this.emit('changed', this._view(record)),
        log: this._o.log
      });
      this._gpuWatches.set(a.id, watch);
      watch.start();
    } else if (a.state !== 'ready' && watching) {
      watching.stop();
      this._gpuWatches.delete(a.id);
    }
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
   * The job script a request would be submitted with (the form shows it before Submit), after the
   * same checks as request(); nothing is written or submitted. The cluster is read from the cache:
   * the form asks at every pause in typing.
   */
  async preview(input: AllocationRequestInput): Promise<string> {
    const request = await this._checked(input, { fresh: false });
    return buildJobScript(
      request,
      jobFiles(path.join(this._dir, '<allocation>')),
      this._o.jobPolicy
    );
  }

  private async _checked(
    input: AllocationRequestInput,
    { fresh }: { fresh: boolean }
  ): Promise<AllocationRequest> {
    const request = validateRequest(
      typeof input === 'object' && input !== null
        ? withSiteDefaults(input, this._o.defaults)
        : input
    );
    let cluster;
    try {
      cluster = await this._o.cluster.get({ fresh });
    } catch (err) {
      throw new HttpError(
        503,
        'slurm_unreachable',
        `Slurm did not answer (${(err as Error).message}); nothing was submitted, try again once it is back`
      );
    }
    const problem = checkAgainstCluster(request, cluster);
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

  /**
   * Validates a request (format, then the cluster's real partitions, GRES and limits) and submits it.
   *
   * #### Notes
   * Rejects with a 400 HttpError naming the field for a bad request, before anything reaches Slurm;
   * with a 503 when Slurm does not answer; with a 502 when sbatch refuses the job (its message
   * included). When sbatch gives no clear answer (it timed out, its output was not a job id), the
   * allocation is returned as submitted and unconfirmed: its job is looked for by its tag, and
   * submitted again only if Slurm has none.
   */
  async request(input: AllocationRequestInput): Promise<Allocation> {
    const request = await this._checked(input, { fresh: true });
    const id = `${Date.now().toString(36)}-${newSecret(4)}`;
    const dir = await this._fs.ensurePrivateDir(path.join(this._dir, id));
    const files = jobFiles(dir);
    await this._fs.writePrivateFile(files.tokenFile, newSecret());
    await this._fs.writePrivateFile(files.gatewayConfig, GATEWAY_CONFIG);
    // The same files for every job: read once.
    this._gatewayModules ??= readGatewayModules();
    for (const [name, source] of await this._gatewayModules) {
      await this._fs.writePrivateFile(path.join(dir, `${name}.py`), source);
    }
    const allocation = newAllocation(id, request);
    const record: IRecord = { allocation, files, submitting: true };
    this._records.set(id, record);
    // Saved before sbatch runs: a job found later by its tag has its record to come home to.
    await this._save(record);
    try {
      allocation.jobId = await submitJob(
        this._o.runner,
        this._submission(record)
      );
    } catch (err) {
      if (surelyNotSubmitted(err)) {
        this._records.delete(id);
        await this._fs.remove(dir);
        throw new HttpError(
          502,
          'slurm_refused',
          `Slurm refused the job: ${(err as Error).message}`
        );
      }
      this._unconfirmed(record, err);
      return allocation;
    } finally {
      record.submitting = false;
    }
    await this._save(record);
    this._o.log.info({ id, jobId: allocation.jobId }, 'submitted');
    this._changed(record);
    this._pollSoon();
    return allocation;
  }

  private _submission(record: IRecord): ISubmission {
    const { request, id } = record.allocation;
    return {
      script: buildJobScript(request, record.files, this._o.jobPolicy),
      partition: request.partition,
      gres: request.gres,
      time: request.time,
      cpus: request.cpus,
      memory: request.memory,
      account: request.account,
      qos: request.qos,
      constraint: request.constraint,
      jobName: request.jobName ?? `slurm-kernels-${id}`,
      comment: this.jobTag(id),
      output: path.join(record.files.dir, 'job.log'),
      // The job hears of its time limit 5 minutes ahead and says so in its log.
      signal: 'B:USR1@300',
      workdir: this._o.home ?? os.homedir()
    };
  }

  /** sbatch's answer was lost: the job is looked for by its tag at the next polls. */
  private _unconfirmed(record: IRecord, err: unknown): void {
    record.unconfirmed = true;
    this._o.log.warn(
      { id: record.allocation.id, err: (err as Error).message },
      'sbatch gave no clear answer; looking for the job by its tag'
    );
    this._setProblem(
      record,
      'submission_unconfirmed',
      `sbatch gave no clear answer (${(err as Error).message}); the job is looked for by its tag, and submitted again only if Slurm has none`
    );
    void this._save(record);
    this._schedulePoll(this._o.fastPollMs ?? 1000);
  }

  /**
   * An unconfirmed submission: adopt the job Slurm has under its tag, else submit it (again). Throws
   * when Slurm does not answer.
   */
  private async _confirm(record: IRecord): Promise<void> {
    const a = record.allocation;
    const found = await findJobsByComment(
      this._o.runner,
      this._user,
      this.jobTag(a.id)
    );
    if (found.length > 0) {
      const [first, ...duplicates] = found.sort(
        (x, y) => Number(x.id) - Number(y.id)
      );
      for (const extra of duplicates) {
        await cancelJob(this._o.runner, extra.id);
      }
      record.unconfirmed = false;
      this._o.log.info(
        { id: a.id, jobId: first.id },
        'found the job sbatch did not confirm'
      );
      this._update(record, { jobId: first.id, problem: null });
      if (a.state === 'ending') {
        record.cancelOwed = true; // cancelled before its job was found
      }
      return;
    }
    if (a.state === 'ending') {
      record.unconfirmed = false;
      this._update(record, {
        state: 'ended',
        problem: null,
        outcome: {
          state: 'CANCELLED',
          exitCode: null,
          message: 'Cancelled before Slurm took the job.'
        }
      });
      return;
    }
    record.submitting = true;
    try {
      const jobId = await submitJob(this._o.runner, this._submission(record));
      record.unconfirmed = false;
      this._o.log.info({ id: a.id, jobId }, 'submitted (again)');
      this._update(record, { jobId, problem: null });
    } catch (err) {
      if (!surelyNotSubmitted(err)) {
        this._unconfirmed(record, err);
        return;
      }
      record.unconfirmed = false;
      this._update(record, {
        state: 'failed',
        problem: null,
        outcome: {
          state: 'SUBMIT_FAILED',
          exitCode: null,
          message: `Slurm refused the job: ${(err as Error).message}`
        }
      });
    } finally {
      record.submitting = false;
    }
  }

  /**
   * Cancels the allocation's job; its kernels end and its kernelspecs go with it. When Slurm does not
   * answer, the cancel is kept and carried out as soon as it does.
   */
  async cancel(ref: string): Promise<Allocation> {
    const record = this._record(ref);
    const a = record.allocation;
    if (!isActive(a)) {
      return a;
    }
    if (a.jobId) {
      try {
        await cancelJob(this._o.runner, a.jobId);
        this._o.gateway.retireKernels(a, 'The job was cancelled.');
      } catch (err) {
        if (!isSlurmUnreachable(err) && !this._o.clusterUnreachable?.()) {
          throw err;
        }
        record.cancelOwed = true;
        this._setProblem(
          record,
          'cancel_pending',
          `Slurm did not answer (${(err as Error).message}); the job is cancelled as soon as it does`
        );
      }
    }
    this._update(record, { state: 'ending' });
    this._pollSoon();
    return a;
  }

  /** The cancel policy in force: the user's, with the site's limits where they are stricter. */
  get cancelPolicy(): CancelPolicy {
    return strictestPolicy(this._userPolicy, this._o.sitePolicy ?? {});
  }

  /** Sets the user's own cancel policy (the lab sends its settings); kept across restarts. */
  async setCancelPolicy(input: unknown): Promise<CancelPolicy> {
    this._userPolicy = parsedOr400(cancelPolicySchema, input, 'invalid_policy');
    await this._fs.writePrivateFile(
      this._policyFile,
      JSON.stringify(this._userPolicy)
    );
    this._schedulePolicy();
    void this._applyPolicy();
    return this.cancelPolicy;
  }

  /** "Keep": the allocation's limits count from now, so a scheduled cancel is put off. */
  async keep(ref: string): Promise<Allocation> {
    const record = this._record(ref);
    if (record.allocation.state === 'ready') {
      record.use = { ...this._use(record), keptAt: Date.now() };
      await this._applyPolicyTo(record, this.cancelPolicy);
    }
    return record.allocation;
  }

  /** The tail of the job's output file (stdout and stderr). */
  async log(ref: string, maxBytes = 64 * 1024): Promise<string> {
    const record = this._record(ref);
    return this._fs.tail(path.join(record.files.dir, 'job.log'), maxBytes);
  }

  /**
   * Stops polling and policing (kernels and jobs keep running; a restarted companion re-adopts
   * them). Resolves once the state changes made before have been written: a companion stopped right
   * after a change must not lose it (the next one would act on stale state).
   */
  async dispose(): Promise<void> {
    this._disposed = true;
    this._gpuWatches.forEach(watch => watch.stop());
    this._gpuWatches.clear();
    for (const timer of [
      this._refreshTimer,
      this._aliveTimer,
      this._policyTimer
    ]) {
      if (timer) {
        clearInterval(timer);
      }
    }
    if (this._timer) {
      clearTimeout(this._timer);
    }
    await Promise.all(this._saving.values());
  }

  private get _policyFile(): string {
    return path.join(this._o.stateDir, 'cancel-policy.json');
  }

  private async _loadCancelPolicy(): Promise<void> {
    try {
      const saved = await readJson(this._fs, this._policyFile);
      if (saved !== undefined) {
        this._userPolicy = cancelPolicySchema.parse(saved);
      }
    } catch (err) {
      this._o.log.warn(
        { file: this._policyFile, err: (err as Error).message },
        'ignored an unreadable cancel policy; the default applies'
      );
    }
  }

  private _schedulePolicy(): void {
    if (this._policyTimer) {
      clearInterval(this._policyTimer);
    }
    this._policyTimer = setInterval(
      () => void this._applyPolicy(),
      this._o.policyTickMs ?? policyTickMs(this.cancelPolicy)
    );
    this._policyTimer.unref();
  }

  /** Looks at every ready allocation's kernels; schedules, shows and carries out policy cancels. */
  private async _applyPolicy(): Promise<void> {
    if (this._applyingPolicy || this._disposed) {
      return;
    }
    this._applyingPolicy = true;
    try {
      const policy = this.cancelPolicy;
      for (const record of [...this._records.values()]) {
        if (record.allocation.state === 'ready') {
          await this._applyPolicyTo(record, policy).catch(err =>
            this._o.log.warn(
              { id: record.allocation.id, err: (err as Error).message },
              'the cancel policy could not be applied; trying again'
            )
          );
        }
      }
    } finally {
      this._applyingPolicy = false;
    }
  }

  private async _applyPolicyTo(
    record: IRecord,
    policy: CancelPolicy
  ): Promise<void> {
    const seen = this._o.gateway.kernelUse(record.allocation.id);
    if (!seen) {
      return; // not reached (yet): nothing is known of its kernels
    }
    const use = this._noteKernelUse(record, seen);
    const gpusIdleSince = this._gpusIdleSince(record);
    let due = autoCancelDue(policy, { ...use, ...seen, gpusIdleSince });
    // Announced first: a cancel the lab has not been shown (a limit lowered past it) waits a tick.
    const shown = record.allocation.autoCancel;
    const announced = shown?.why === due?.why && shown?.at === due?.at;
    if (due && Date.parse(due.at) <= Date.now() && announced) {
      due = await this._confirmDue(record, policy, seen.kernels);
      if (due && Date.parse(due.at) <= Date.now()) {
        const reason = autoCancelReason(due, policy);
        this._o.log.info(
          { id: record.allocation.id, jobId: record.allocation.jobId, reason },
          'cancelling by the policy'
        );
        record.autoCancelled = reason;
        await this.cancel(record.allocation.id);
        return;
      }
    }
    this._update(record, { autoCancel: due });
  }

  /** Since when all of its GPUs have been at 0 %, while its samples are fresh and say so. */
  private _gpusIdleSince(record: IRecord): number | undefined {
    const since = this._gpuWatches
      .get(record.allocation.id)
      ?.view(this._gpuIdleMinutes)?.idle.since;
    return since ? Date.parse(since) : undefined;
  }

  private _use(record: IRecord): IPersistedUse {
    return record.use ?? { readyAt: Date.now() };
  }

  /** Folds what the bridges see now into what is persisted of the allocation's kernels. */
  private _noteKernelUse(
    record: IRecord,
    seen: { kernels: number; lastExecution?: number }
  ): IPersistedUse {
    const use = { ...this._use(record) };
    if (seen.kernels > 0) {
      use.hadKernel = true;
      use.lastKernelEndedAt = undefined;
    } else if (use.hadKernel && use.lastKernelEndedAt === undefined) {
      use.lastKernelEndedAt = Date.now();
    }
    if (seen.lastExecution !== undefined) {
      use.lastExecution = Math.max(use.lastExecution ?? 0, seen.lastExecution);
    }
    if (JSON.stringify(use) !== JSON.stringify(record.use)) {
      record.use = use;
      void this._save(record);
    }
    return use;
  }

  /**
   * Before a policy cancel, the gateway itself is asked: a busy kernel (maybe one this companion
   * does not bridge: another login node's, or one it lost track of in a restart) puts it off, and so
   * does a kernel that no bridge here saw, or activity newer than this companion knows of. A
   * gateway that does not answer cancels nothing.
   */
  private async _confirmDue(
    record: IRecord,
    policy: CancelPolicy,
    bridged: number
  ) {
    const remote = await this._o.gateway.remoteKernels(record.allocation.id);
    if (!remote) {
      return null;
    }
    const use = this._use(record);
    const now = Date.now();
    const busy = remote.some(k => k.execution_state === 'busy');
    const lastActivity = Math.max(
      use.lastExecution ?? 0,
      ...remote.map(k => Date.parse(k.last_activity ?? '') || 0)
    );
    record.use = {
      ...use,
      lastExecution: busy ? now : lastActivity || use.lastExecution,
      ...(remote.length > bridged
        ? { hadKernel: true, lastKernelEndedAt: undefined }
        : {})
    };
    void this._save(record);
    return autoCancelDue(policy, {
      ...record.use,
      kernels: Math.max(remote.length, bridged),
      executing: busy,
      gpusIdleSince: this._gpusIdleSince(record)
    });
  }

  /** Asks Slurm at once, whatever the intervals say. */
  private _pollSoon(): void {
    this._forced = true;
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
      this._pollSoon();
    }
  }

  /** The records Slurm is asked about: live ones, and ended ones whose job must still be cancelled. */
  private _watched(): IRecord[] {
    return [...this._records.values()].filter(
      r => (isActive(r.allocation) || r.cancelOwed) && !r.submitting
    );
  }

  /**
   * Asks Slurm when it is due (see the poll options), else only looks whether a pending job's log
   * appeared, which costs Slurm nothing.
   */
  private async _pollOnce(): Promise<void> {
    const watched = this._watched();
    if (watched.length === 0) {
      return; // nothing to watch: no polling until the next request
    }
    const forced = this._forced;
    this._forced = false;
    const due =
      forced ||
      Date.now() >= this._lastSlurmLook + this._interval(watched) ||
      (await this._anyJobStarted(watched));
    if (due) {
      this._lastSlurmLook = Date.now();
      await this._askSlurm(watched);
    }
    const after = this._watched();
    if (after.length === 0) {
      return;
    }
    const wait = Math.max(
      0,
      this._lastSlurmLook + this._interval(after) - Date.now()
    );
    const anyPending = after.some(r => r.allocation.state === 'pending');
    this._schedulePoll(
      anyPending ? Math.min(wait, this._o.fastPollMs ?? 1000) : wait
    );
  }

  /** How long until Slurm should be asked again about these records. */
  private _interval(records: IRecord[]): number {
    if (this._unreachableSince !== null) {
      return this._o.retryPollMs ?? 10_000;
    }
    let interval = Infinity;
    for (const r of records) {
      interval = Math.min(interval, this._intervalFor(r));
    }
    return interval;
  }

  private _intervalFor(record: IRecord): number {
    const a = record.allocation;
    if (
      record.unconfirmed ||
      record.cancelOwed ||
      a.state === 'submitted' ||
      a.state === 'ending'
    ) {
      return this._o.fastPollMs ?? 1000;
    }
    if (a.state === 'running') {
      return this._o.startingPollMs ?? 3000;
    }
    if (a.state === 'pending') {
      // Soon after submission the reason and estimate change within seconds; a job that pends for
      // hours is asked about once per interval.
      record.pendingSince ??= Date.now();
      const fast = this._o.fastPollMs ?? 1000;
      const age = Date.now() - record.pendingSince;
      return Math.min(this._o.pendingPollMs ?? 90_000, Math.max(fast, age / 4));
    }
    record.pendingSince = undefined;
    if (
      a.problem?.kind === 'node_unreachable' ||
      a.problem?.kind === 'cluster_unreachable'
    ) {
      // Its kernels cannot reach the gateway: Slurm says whether the job (or its node) ended.
      return this._o.retryPollMs ?? 10_000;
    }
    const slow = this._o.slowPollMs ?? 120_000;
    // A ready job's time limit: seen at once, not up to a slow poll later. Slurm enforces it some
    // seconds to a minute late (its timer, KillWait, OverTimeLimit): until it does, every 10 s
    // for a while, so a job without a connected kernel does not show ready for minutes more.
    const untilEnd = a.endTime
      ? Date.parse(a.endTime) + 2000 - Date.now()
      : NaN;
    if (untilEnd > 0) {
      return Math.min(slow, untilEnd);
    }
    return untilEnd > -OVERTIME_WATCH_MS
      ? Math.min(slow, this._o.retryPollMs ?? 10_000)
      : slow;
  }

  /** Whether a pending job's log appeared or changed since Slurm was last asked (the job started). */
  private async _anyJobStarted(records: IRecord[]): Promise<boolean> {
    for (const r of records) {
      if (r.allocation.state !== 'pending') {
        continue;
      }
      if ((await this._logStamp(r.files)) !== r.logStamp) {
        return true;
      }
    }
    return false;
  }

  private async _askSlurm(watched: IRecord[]): Promise<void> {
    try {
      for (const record of watched.filter(r => r.unconfirmed)) {
        await this._confirm(record);
      }
      const withJob = watched.filter(r => r.allocation.jobId);
      for (const r of withJob) {
        r.logStamp = await this._logStamp(r.files);
      }
      if (withJob.length > 0) {
        const jobs = await listJobs(this._o.runner, {
          jobIds: withJob.map(r => r.allocation.jobId as string)
        });
        const byId = new Map(jobs.map(j => [j.id, j]));
        for (const record of withJob) {
          await this._apply(
            record,
            byId.get(record.allocation.jobId as string)
          );
        }
      }
      if (this._unreachableSince !== null) {
        this._o.log.info({}, 'Slurm answers again');
      }
      this._unreachableSince = null;
    } catch (err) {
      if (!isSlurmUnreachable(err) && !this._o.clusterUnreachable?.()) {
        this._o.log.warn(
          { err: (err as Error).message },
          'poll failed; retrying'
        );
      }
      this._slurmUnreachable(watched, err);
    }
  }

  /** A kernel's websocket cannot be reopened: the lab says so while the job still runs. */
  private _nodeUnreachable(id: string, why: string): void {
    const record = this._records.get(id);
    const a = record?.allocation;
    if (!record || !a || !isActive(a) || this._clusterUnreachable(record)) {
      return;
    }
    if (
      a.problem &&
      a.problem.kind !== 'node_unreachable' &&
      a.problem.kind !== 'cluster_unreachable'
    ) {
      return;
    }
    this._setProblem(
      record,
      'node_unreachable',
      `${a.node} does not answer (${why}); its kernels keep running there and reconnect when it does`
    );
  }

  /** Slurm did not answer: nothing is ended or cancelled for it; the lab says so meanwhile. */
  private _slurmUnreachable(records: IRecord[], err: unknown): void {
    if (this._unreachableSince === null) {
      this._unreachableSince = Date.now();
      this._o.log.warn(
        { err: (err as Error).message },
        'Slurm does not answer; nothing is ended or cancelled meanwhile'
      );
    }
    for (const record of records) {
      if (
        isActive(record.allocation) &&
        !record.unconfirmed &&
        !this._clusterUnreachable(record)
      ) {
        this._setProblem(
          record,
          'slurm_unreachable',
          `Slurm does not answer (${(err as Error).message}); the allocation is kept as it was`
        );
      }
    }
  }

  /**
   * Says so where the cluster itself is out of reach (see IManagerOptions.clusterUnreachable):
   * what cannot reach Slurm or a node then is no fault of theirs.
   */
  private _clusterUnreachable(record: IRecord): boolean {
    const why = this._o.clusterUnreachable?.();
    if (!why) {
      return false;
    }
    const kind = record.allocation.problem?.kind;
    if (kind && !UNREACHABLE.includes(kind)) {
      return true; // what stands in its way still does (a cancel owed, an unconfirmed submission)
    }
    this._setProblem(
      record,
      'cluster_unreachable',
      `${why}; the kernels keep running on the nodes and reconnect once it is back`
    );
    return true;
  }

  /** Applies what squeue said of one job (nothing when it did not list the job). */
  private async _apply(
    record: IRecord,
    job: IJobInfo | undefined
  ): Promise<void> {
    const a = record.allocation;
    if (
      a.problem?.kind === 'slurm_unreachable' ||
      a.problem?.kind === 'cluster_unreachable'
    ) {
      this._update(record, { problem: null });
    }
    if (!job) {
      await this._applyUnlisted(record);
      return;
    }
    if (isEnded(job.state) || job.state === 'COMPLETING') {
      await this._finish(
        record,
        await this._finalState(a.jobId as string, job.state)
      );
      return;
    }
    if (record.cancelOwed) {
      await this._cancelAgain(record);
    }
    if (!isActive(a)) {
      return; // failed, its job not yet gone: cancelled again above
    }
    if (WAITING_STATES.has(job.state)) {
      if (a.state === 'running' || a.state === 'ready') {
        await this._requeued(record);
      }
      this._update(record, {
        state: a.state === 'ending' ? 'ending' : 'pending',
        slurmState: job.state,
        pendingReason: {
          code: job.reason,
          text: describePendingReason(job.reason)
        },
        // For a pending job squeue's start time is the scheduler's estimate.
        estimatedStart: slurmTime(job.startTime)
      });
      return;
    }
    if (job.state !== 'RUNNING' || a.state === 'ending') {
      // SUSPENDED, STOPPED, CONFIGURING, SIGNALING, STAGE_OUT, RESIZING…: the job lives on.
      this._update(record, { slurmState: job.state });
      return;
    }
    const startTime = slurmTime(job.startTime);
    if (
      (a.state === 'running' || a.state === 'ready') &&
      a.startTime &&
      startTime &&
      startTime !== a.startTime
    ) {
      await this._requeued(record); // ran again, between two looks
    }
    if (a.state !== 'ready') {
      this._update(record, {
        state: 'running',
        slurmState: job.state,
        pendingReason: null,
        estimatedStart: null,
        node: job.nodes.split(',')[0] || null,
        startTime,
        endTime: slurmTime(job.endTime)
      });
      if (!record.connecting) {
        void this._connectGateway(record);
      }
    } else {
      // A time limit raised or lowered while the job runs shows in the lab's countdown.
      this._update(record, { endTime: slurmTime(job.endTime) });
    }
  }

  /**
   * squeue did not list the job: ask scontrol and sacct. A job they call live is kept as it is; one
   * they have never heard of has ended unseen; silence is Slurm not answering.
   */
  private async _applyUnlisted(record: IRecord): Promise<void> {
    const a = record.allocation;
    const found = await lookUpJob(this._o.runner, a.jobId as string);
    if (found.kind === 'unreachable') {
      this._slurmUnreachable([record], new Error(found.message));
      return;
    }
    if (found.kind === 'gone') {
      await this._finish(record, {
        state: 'UNKNOWN',
        exitCode: null,
        reason: null,
        message: `Slurm no longer knows job ${a.jobId}: it ended while nobody watched.`
      });
      return;
    }
    if (isEnded(found.state) || found.state === 'COMPLETING') {
      await this._finish(record, {
        ...found,
        message: endMessage(
          found.state,
          found.exitCode,
          found.reason ?? undefined
        )
      });
      return;
    }
    if (record.cancelOwed) {
      await this._cancelAgain(record);
    }
    this._update(record, { slurmState: found.state });
  }

  /** A job we asked to end still lives: scancel again; Slurm not answering is tried next poll. */
  private async _cancelAgain(record: IRecord): Promise<void> {
    try {
      await cancelJob(this._o.runner, record.allocation.jobId as string);
    } catch (err) {
      this._o.log.warn(
        { id: record.allocation.id, err: (err as Error).message },
        'scancel failed; trying again at the next poll'
      );
    }
  }

  /**
   * The job went back to the queue (requeue, preemption, a node failure): its kernels and gateway are
   * gone with the old run. Kernels end saying so, kernelspecs go, and the old rendezvous is removed
   * so the next run's gateway is the one reached.
   */
  private async _requeued(record: IRecord): Promise<void> {
    const a = record.allocation;
    this._o.log.warn({ id: a.id, jobId: a.jobId }, 'the job was requeued');
    await this._o.gateway.release(
      a,
      'Slurm requeued the job; its kernels are gone, new ones are offered when it runs again'
    );
    await this._fs.remove(record.files.rendezvousFile);
    record.use = undefined; // the next run's kernels are counted afresh
    this._update(record, {
      state: 'pending',
      node: null,
      startTime: null,
      kernelspecs: [],
      autoCancel: null,
      transport: null
    });
  }

  /** RUNNING → ready: wait for the job's rendezvous, reach the gateway, publish its kernelspecs. */
  private async _connectGateway(record: IRecord): Promise<void> {
    record.connecting = true;
    const a = record.allocation;
    // A requeue starts another run: this attempt belongs to the run it began with.
    const run = a.startTime;
    const sameRun = () =>
      !this._disposed &&
      isActive(this._records.get(a.id)?.allocation ?? a) &&
      a.state !== 'pending' &&
      a.startTime === run;
    try {
      this.emit('progress', {
        id: a.id,
        message: `job ${a.jobId} is running on ${a.node}; waiting for its gateway`
      });
      const { kernelspecs, transport } = await this._o.gateway.connect(
        record.allocation,
        record.files,
        this._o.gatewayStartup ?? DEFAULT_STARTUP_LIMITS,
        sameRun
      );
      if (a.state === 'ending' || !sameRun()) {
        return;
      }
      this._update(record, { state: 'ready', kernelspecs, transport });
      this._o.log.info(
        { id: a.id, jobId: a.jobId, kernelspecs: kernelspecs.map(k => k.name) },
        'ready'
      );
    } catch (err) {
      if (!sameRun()) {
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
      // Kept until Slurm says the job ended: a cancel Slurm did not carry out is made again.
      record.cancelOwed = true;
      this._update(record, {
        state: 'failed',
        outcome: { state: 'GATEWAY_FAILED', exitCode: null, message }
      });
      if (a.jobId) {
        await this._cancelAgain(record);
      }
      await this._o.gateway.release(a);
    } finally {
      record.connecting = false;
    }
  }

  private async _finish(
    record: IRecord,
    final: IFinalState & { message: string }
  ): Promise<void> {
    const a = record.allocation;
    if (final.state === 'COMPLETING') {
      // squeue already says CANCELLED or TIMEOUT while scontrol still reports the job's processes
      // ending: no new kernels meanwhile; the running ones are retired now, and hear why in full
      // with the final word, next poll.
      await this._o.gateway.kernelspecs.removeJob(a.jobId as string);
      this._o.gateway.retireKernels(a);
      this._update(record, {
        state: a.state === 'failed' ? 'failed' : 'ending',
        kernelspecs: []
      });
      return;
    }
    if (record.cancelOwed) {
      record.cancelOwed = false;
      void this._save(record);
    }
    await this._o.gateway.release(a, final.message);
    if (a.state === 'failed') {
      this._update(record, { kernelspecs: [], slurmState: final.state });
      return;
    }
    // An end the user did not ask for comes with the last lines the job wrote.
    const unexpected =
      final.state !== 'COMPLETED' && final.state !== 'CANCELLED';
    const byPolicy =
      Boolean(record.autoCancelled) && final.state === 'CANCELLED';
    const outcome = {
      state: final.state,
      exitCode: final.exitCode,
      message: unexpected
        ? await this._withLogTail(record, final.message)
        : byPolicy
          ? `Cancelled for you: ${record.autoCancelled}.`
          : final.message,
      ...(byPolicy ? { autoCancelled: true } : {})
    };
    this._update(record, {
      state: 'ended',
      slurmState: final.state,
      pendingReason: null,
      kernelspecs: [],
      problem: null,
      autoCancel: null,
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
      await this._fs
        .tail(path.join(record.files.dir, 'job.log'), 4096)
        .catch(() => '')
    )
      .trimEnd()
      .split('\n')
      .slice(-8)
      .join('\n');
    return tail ? `${message}\nThe job's last lines:\n${tail}` : message;
  }

  /** Slurm's final word on a job squeue listed as ended (scontrol, then sacct), else squeue's. */
  private async _finalState(
    jobId: string,
    listed: string
  ): Promise<IFinalState & { message: string }> {
    const found = await lookUpJob(this._o.runner, jobId).catch(() => null);
    const final: IFinalState =
      found?.kind === 'known' &&
      (isEnded(found.state) || found.state === 'COMPLETING')
        ? found
        : { state: listed, exitCode: null, reason: null };
    return {
      ...final,
      message: endMessage(
        final.state,
        final.exitCode,
        final.reason ?? undefined
      )
    };
  }

  private _setProblem(
    record: IRecord,
    kind: AllocationProblem['kind'],
    message: string
  ): void {
    const since =
      record.allocation.problem?.kind === kind
        ? record.allocation.problem.since
        : new Date().toISOString();
    this._update(record, { problem: { kind, message, since } });
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
    this._watchGpus(record);
    this.emit('changed', this._view(record));
  }

  /**
   * Persists a record. Writes of one record are chained so they land in order; a failed write is
   * logged, never thrown into whoever changed the state.
   */
  private _save(record: IRecord): Promise<void> {
    if (this._disposed) {
      return Promise.resolve(); // what changes now is not this companion's to keep
    }
    const previous =
      this._saving.get(record.allocation.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        await this._fs.writePrivateFile(
          path.join(record.files.dir, 'record.json'),
          JSON.stringify(
            {
              allocation: record.allocation,
              files: record.files,
              unconfirmed: record.unconfirmed || undefined,
              cancelOwed: record.cancelOwed || undefined,
              use: record.use,
              autoCancelled: record.autoCancelled
            },
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

  private readonly _stateKey: string;
  private _records = new Map<string, IRecord>();
  private _gpuWatches = new Map<string, GpuWatch>();
  /** Record dirs whose record.json could not be read: said once, not at every refresh. */
  private _unreadable = new Set<string>();
  private _refreshTimer: NodeJS.Timeout | null = null;
  private _aliveTimer: NodeJS.Timeout | null = null;
  private _policyTimer: NodeJS.Timeout | null = null;
  private _applyingPolicy = false;
  /** The user's own cancel policy (from the lab's settings), before the site's. */
  private _userPolicy: CancelPolicy = DEFAULT_CANCEL_POLICY;
  private _saving = new Map<string, Promise<void>>();
  private _timer: NodeJS.Timeout | null = null;
  private _gatewayModules: Promise<Map<string, string>> | undefined;
  private _polling = false;
  private _pollAgain = false;
  private _forced = false;
  private _lastSlurmLook = 0;
  /** When Slurm stopped answering, or null while it answers. */
  private _unreachableSince: number | null = null;
  private _disposed = false;
}

/** How long past its time limit a ready job is watched closely, waiting for Slurm to end it. */
const OVERTIME_WATCH_MS = 5 * 60_000;

function isEnded(slurmState: string): boolean {
  return ENDED_STATES.has(slurmState);
}

/** Saved as submitted without a job id long ago: its companion stopped while sbatch ran. */
function lostDuringSubmission(a: Allocation): boolean {
  return (
    a.state === 'submitted' &&
    !a.jobId &&
    Date.now() - new Date(a.updatedAt).getTime() > SUBMIT_SETTLE_MS
  );
}

/** Where an allocation's files live in its directory. */
function jobFiles(dir: string): IJobFiles {
  return {
    dir,
    tokenFile: path.join(dir, 'token'),
    rendezvousFile: path.join(dir, 'rendezvous.json'),
    gatewayConfig: path.join(dir, 'gateway_config.py'),
    aliveFile: path.join(dir, 'companion-alive')
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
    problem: null,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString()
  };
}

export function validateRequest(input: unknown): AllocationRequest {
  return parsedOr400(allocationRequestSchema, input, 'invalid_request');
}

/** The input as the schema reads it, or a 400 naming the first field at fault. */
function parsedOr400<S extends z.ZodTypeAny>(
  schema: S,
  input: unknown,
  code: string
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.map(String).join('.') || undefined;
    throw new HttpError(
      400,
      code,
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
  if (state === 'FAILED' && exitCode === `${DEAD_MAN_EXIT}:0`) {
    return "The job ended itself: no companion was in touch with it and no kernel was busy (its dead-man's switch).";
  }
  const base = words[state] ?? `The job ended (${state}).`;
  // A cancelled job always ends on a signal; its exit code says nothing more.
  const code =
    exitCode && exitCode !== '0:0' && state !== 'CANCELLED'
      ? ` Exit code ${exitCode}.`
      : '';
  const why = reason && reason !== 'None' ? ` Slurm's reason: ${reason}.` : '';
  return `${base}${code}${why}`;
}
