/**
 * The extension's state: the cluster, the user's allocations and presets, kept fresh with one Poll
 * (fast while something is starting, slow otherwise, paused while the page is hidden). Views render
 * from it; notifications and the kernel picker react to its transitions.
 */
import { Poll } from '@lumino/polling';
import type { KernelSpec, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import type { IDisposable } from '@lumino/disposable';
import {
  allocationSchema,
  type Allocation,
  type AllocationRequestInput,
  type AllocationState
} from './api/allocation';
import type { Cluster } from './api/cluster';
import { loginQuestionSchema, type LoginQuestion } from './api/login';
import type { PresetMap } from './formModel';
import {
  cancelAllocation,
  fetchAllocations,
  fetchCluster,
  fetchJobLog,
  companionUrl,
  fetchPresets,
  keepAllocation,
  previewJobScript,
  putCancelPolicy,
  requestAllocation
} from './handler';
import { DEFAULTS, IDefaults } from './settings';

/** A change of an allocation's state seen by the model. */
export interface ITransition {
  allocation: Allocation;
  from: AllocationState | null;
  to: AllocationState;
}

/** Kernels again after a job was lost: its relaunch, or the same job run again after a requeue. */
export interface IRelaunch {
  /** The job whose kernels the open notebooks may still name. */
  fromJobId: string;
  /** Ready, with the kernels to switch them to. */
  allocation: Allocation;
}

/** An allocation that has reached a walltime warning threshold. */
export interface IWalltimeWarning {
  allocation: Allocation;
  minutesLeft: number;
  /** Whether this is the last warning before the end (the smallest threshold). */
  last: boolean;
}

const STARTING: ReadonlySet<AllocationState> = new Set([
  'submitted',
  'pending',
  'running',
  'ending'
]);
/** How long before a policy cancel the user is told (with "Keep"). */
const AUTO_CANCEL_WARNING_MS = 5 * 60_000;
const FAST_MS = 2_000;
const SLOW_MS = 15_000;

export class SlurmKernelsModel implements IDisposable {
  constructor(options: SlurmKernelsModel.IOptions) {
    this._settings = options.serverSettings;
    this.clusterName = options.clusterName ?? null;
    this._kernelspecs = options.kernelspecs ?? null;
    this._poll = new Poll({
      factory: () => this._refresh(),
      frequency: { interval: SLOW_MS, backoff: true, max: 60_000 },
      standby: 'when-hidden',
      name: 'jupyterlab-slurm-kernels:allocations'
    });
    this._listen();
  }

  /** The cluster of the lab this model is for; null for the companion's default. */
  readonly clusterName: string | null;

  /** The settings its requests go with (to its cluster's API). */
  get serverSettings(): ServerConnection.ISettings {
    return this._settings;
  }

  /** When this lab session's model started (ms since the epoch): its GPU-hours count from here. */
  readonly sessionStart = Date.now();

  get cluster(): Cluster | null {
    return this._cluster;
  }

  get allocations(): readonly Allocation[] {
    return this._allocations;
  }

  /** The site's and the user's presets (settings win), and the site's default preset. */
  get presets(): PresetMap {
    return { ...this._sitePresets, ...this._defaults.presets };
  }

  get sitePreset(): string | undefined {
    return this._siteDefaultPreset;
  }

  get defaults(): IDefaults {
    return this._defaults;
  }

  set defaults(value: IDefaults) {
    this._defaults = value;
    void this._sendCancelPolicy();
    this._changed.emit();
  }

  /** An allocation the companion will cancel (no kernel, or idle) while it is not kept. */
  get autoCancelling(): ISignal<this, Allocation> {
    return this._autoCancelling;
  }

  /**
   * A ready allocation whose kernels do not see the GPUs asked for (none, fewer, more, unknown),
   * once per allocation and kind of problem.
   */
  get gpuProblem(): ISignal<this, Allocation> {
    return this._gpuProblem;
  }

  /** A login to the cluster waits on the person (laptop mode): a host key, a code. */
  get loginAsked(): ISignal<this, LoginQuestion> {
    return this._loginAsked;
  }

  /** A login question was answered (maybe in another tab), cancelled or withdrawn: its id. */
  get loginSettled(): ISignal<this, string> {
    return this._loginSettled;
  }

  /** A ready allocation whose GPUs have all been idle for the idle window, once per idle stretch. */
  get gpusIdle(): ISignal<this, Allocation> {
    return this._gpusIdle;
  }

  /** Why the cluster could not be read, or null. */
  get clusterError(): string | null {
    return this._clusterError;
  }

  /** Why the allocations could not be read, or null. */
  get error(): string | null {
    return this._error;
  }

  /** Any change: cluster, allocations, presets, defaults. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get transitioned(): ISignal<this, ITransition> {
    return this._transitioned;
  }

  get walltimeWarning(): ISignal<this, IWalltimeWarning> {
    return this._walltimeWarning;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Its cluster was taken out of the lab. */
  get disposed(): ISignal<this, void> {
    return this._disposed;
  }

  async refreshCluster(): Promise<void> {
    try {
      const [cluster, presets] = await Promise.all([
        fetchCluster(this._settings, true),
        fetchPresets(this._settings)
      ]);
      this._cluster = cluster;
      this._sitePresets = presets.presets;
      this._siteDefaultPreset = presets.default;
      this._clusterError = null;
    } catch (err) {
      this._clusterError = err instanceof Error ? err.message : String(err);
    }
    this._changed.emit();
  }

  /** Refreshes the allocations now (the Poll's next tick). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  async request(input: AllocationRequestInput): Promise<Allocation> {
    const allocation = await requestAllocation(input, this._settings);
    await this.refresh();
    return allocation;
  }

  preview(input: AllocationRequestInput): Promise<string> {
    return previewJobScript(input, this._settings);
  }

  /**
   * Requests what an ended or failed allocation asked for; once the new one is ready, `relaunched`
   * says which job it replaces, so the notebooks that used it can be switched.
   */
  async relaunch(old: Allocation): Promise<Allocation> {
    const fresh = await requestAllocation(old.request, this._settings);
    if (old.jobId) {
      this._replaces.set(fresh.id, old.jobId);
    }
    await this.refresh();
    return fresh;
  }

  get relaunched(): ISignal<this, IRelaunch> {
    return this._relaunched;
  }

  async cancel(id: string): Promise<void> {
    await cancelAllocation(id, this._settings);
    await this.refresh();
  }

  /** Keeps the allocation: the cancel its policy scheduled is put off. */
  async keep(id: string): Promise<void> {
    await keepAllocation(id, this._settings);
    await this.refresh();
  }

  log(id: string): Promise<string> {
    return fetchJobLog(id, this._settings);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._events?.close();
    this._poll.dispose();
    this._disposed.emit();
    Signal.clearData(this);
  }

  private async _refresh(): Promise<void> {
    let next: Allocation[];
    try {
      next = await fetchAllocations(this._settings);
      this._error = null;
    } catch (err) {
      this._error = err instanceof Error ? err.message : String(err);
      this._changed.emit();
      throw err; // the Poll backs off
    }
    const before = new Map(this._allocations.map(a => [a.id, a.state]));
    this._allocations = next;
    let specsChanged = false;
    for (const allocation of next) {
      const from = before.get(allocation.id) ?? null;
      if (from !== allocation.state && this._seen) {
        this._transitioned.emit({ allocation, from, to: allocation.state });
        specsChanged ||= allocation.state === 'ready' || from === 'ready';
        if (allocation.state === 'ready') {
          this._readyAgain(allocation);
        }
      }
      if (allocation.state === 'ready') {
        this._wasReady.add(allocation.id);
      }
    }
    this._seen = true;
    if (specsChanged) {
      // The kernel picker shows the new kernels now, not at the next 61 s kernelspec poll.
      void this._kernelspecs?.refreshSpecs();
    }
    this._checkWalltime(next);
    this._checkAutoCancel(next);
    this._checkGpus(next);
    const interval = next.some(a => STARTING.has(a.state)) ? FAST_MS : SLOW_MS;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
    this._changed.emit();
  }

  /**
   * Follows the companion's server-sent events, so a change (above all "ready", which puts kernels in
   * the picker) is seen at once rather than at the next poll. jupyter-server-proxy streams the reply
   * because EventSource asks for text/event-stream. Without events (no EventSource, or an error that
   * closes the stream) the poll alone keeps the model fresh.
   */
  private _listen(): void {
    if (typeof EventSource === 'undefined') {
      return;
    }
    this._events = new EventSource(companionUrl(this._settings, 'api/events'), {
      withCredentials: true
    });
    this._events.addEventListener('allocation', event =>
      this._fromEvent((event as MessageEvent<string>).data)
    );
    // What a login waits on: listed when the stream opens, then announced as asked.
    this._events.addEventListener('hello', event => {
      const { logins } = (Private.eventData(event) ?? {}) as {
        logins?: unknown;
      };
      (Array.isArray(logins) ? logins : []).forEach(q => this._asked(q));
    });
    this._events.addEventListener('login-question', event =>
      this._asked(Private.eventData(event))
    );
    this._events.addEventListener('login-settled', event => {
      const { id } = (Private.eventData(event) ?? {}) as { id?: unknown };
      if (typeof id === 'string') {
        this._loginSettled.emit(id);
      }
    });
  }

  private _asked(data: unknown): void {
    const question = loginQuestionSchema.safeParse(data);
    if (question.success) {
      this._loginAsked.emit(question.data);
    }
  }

  /**
   * One allocation as an event carries it. Where only its details changed (its GPUs' samples, every
   * few seconds), it is taken as it comes; a new allocation or a change of state is fetched with
   * the others, which does what that needs (the kernel picker, the transition's notification).
   */
  private _fromEvent(data: string): void {
    const known = (id: string) => this._allocations.find(a => a.id === id);
    let changed: Allocation;
    try {
      changed = allocationSchema.parse(JSON.parse(data));
    } catch {
      void this.refresh();
      return;
    }
    if (known(changed.id)?.state !== changed.state) {
      void this.refresh();
      return;
    }
    this._allocations = this._allocations.map(a =>
      a.id === changed.id ? changed : a
    );
    this._checkAutoCancel([changed]);
    this._checkGpus([changed]);
    this._changed.emit();
  }

  /** Ready as a relaunch, or again after its job was requeued: notebooks may want its kernels. */
  private _readyAgain(allocation: Allocation): void {
    const fromJobId =
      this._replaces.get(allocation.id) ??
      (this._wasReady.has(allocation.id) ? allocation.jobId : null);
    this._replaces.delete(allocation.id);
    if (fromJobId) {
      this._relaunched.emit({ fromJobId, allocation });
    }
  }

  private _checkWalltime(allocations: Allocation[]): void {
    const thresholds = [...this._defaults.walltimeWarnings].sort(
      (a, b) => a - b
    );
    for (const allocation of allocations) {
      if (allocation.state !== 'ready' || !allocation.endTime) {
        continue;
      }
      const minutesLeft =
        (Date.parse(allocation.endTime) - Date.now()) / 60_000;
      const crossed = thresholds.find(t => minutesLeft <= t);
      const key = `${allocation.id}:${crossed}`;
      if (crossed !== undefined && !this._warned.has(key)) {
        this._warned.add(key);
        this._walltimeWarning.emit({
          allocation,
          minutesLeft: Math.max(0, Math.round(minutesLeft)),
          last: crossed === thresholds[0]
        });
      }
    }
  }

  /**
   * The companion applies the cancel policy, with or without a lab open; the lab sends the user's
   * settings (the companion keeps them) and says when a cancel comes near.
   */
  private async _sendCancelPolicy(): Promise<void> {
    const policy = {
      idleMinutes: this._defaults.idleCancelMinutes,
      noKernelMinutes: this._defaults.noKernelCancelMinutes,
      gpuIdleMinutes: this._defaults.gpuIdleMinutes,
      gpuIdleCancelMinutes: this._defaults.gpuIdleCancelMinutes
    };
    const key = JSON.stringify(policy);
    if (key === this._policySent) {
      return; // another setting changed
    }
    this._policySent = key;
    try {
      await putCancelPolicy(policy, this._settings);
    } catch (err) {
      // Sent again with the next change of the settings or the next load of the lab.
      this._policySent = null;
      console.warn('jupyterlab-slurm-kernels: cancel policy not sent', err);
    }
  }

  /** Says once per GPU problem, and once per stretch of idle GPUs, of each allocation. */
  private _checkGpus(allocations: Allocation[]): void {
    for (const allocation of allocations) {
      const gpus = allocation.state === 'ready' ? allocation.gpus : null;
      if (!gpus) {
        continue;
      }
      const problem =
        gpus.problem && `${allocation.id}:gpus:${gpus.problem.kind}`;
      if (problem && !this._warned.has(problem)) {
        this._warned.add(problem);
        this._gpuProblem.emit(allocation);
      }
      const idle =
        gpus.idle.flagged && `${allocation.id}:idle:${gpus.idle.since}`;
      if (idle && !this._warned.has(idle)) {
        this._warned.add(idle);
        this._gpusIdle.emit(allocation);
      }
    }
  }

  /** Says once per scheduled cancel when it is less than AUTO_CANCEL_WARNING_MS away. */
  private _checkAutoCancel(allocations: Allocation[]): void {
    for (const allocation of allocations) {
      const due = allocation.state === 'ready' ? allocation.autoCancel : null;
      if (!due) {
        continue;
      }
      const key = `${allocation.id}:${due.why}:${due.at}`;
      if (
        Date.parse(due.at) - Date.now() <= AUTO_CANCEL_WARNING_MS &&
        !this._warned.has(key)
      ) {
        this._warned.add(key);
        this._autoCancelling.emit(allocation);
      }
    }
  }

  private _settings: ServerConnection.ISettings;
  private _kernelspecs: KernelSpec.IManager | null;
  private _poll: Poll;
  private _events: EventSource | null = null;
  private _cluster: Cluster | null = null;
  private _allocations: Allocation[] = [];
  private _sitePresets: PresetMap = {};
  private _siteDefaultPreset: string | undefined;
  private _defaults: IDefaults = DEFAULTS;
  private _error: string | null = null;
  private _clusterError: string | null = null;
  private _seen = false;
  private _warned = new Set<string>();
  private _isDisposed = false;
  /** The cancel policy last sent to the companion, as JSON. */
  private _policySent: string | null = null;
  private _changed = new Signal<this, void>(this);
  private _disposed = new Signal<this, void>(this);
  private _transitioned = new Signal<this, ITransition>(this);
  private _walltimeWarning = new Signal<this, IWalltimeWarning>(this);
  private _autoCancelling = new Signal<this, Allocation>(this);
  private _gpuProblem = new Signal<this, Allocation>(this);
  private _gpusIdle = new Signal<this, Allocation>(this);
  private _loginAsked = new Signal<this, LoginQuestion>(this);
  private _loginSettled = new Signal<this, string>(this);
  private _relaunched = new Signal<this, IRelaunch>(this);
  /** Relaunched allocation id → the job id it replaces. */
  private _replaces = new Map<string, string>();
  /** Allocations seen ready: ready once more means their job ran again (requeued). */
  private _wasReady = new Set<string>();
}

export namespace SlurmKernelsModel {
  export interface IOptions {
    /** The settings of its cluster's API (handler.ts clusterSettings), or of the companion's root. */
    serverSettings: ServerConnection.ISettings;
    /** The cluster's name in the lab, where the settings name one. */
    clusterName?: string;
    /** Refreshed when kernels appear or go, so the picker follows at once. */
    kernelspecs?: KernelSpec.IManager;
  }
}

namespace Private {
  /** An event's JSON data; undefined where it is none. */
  export function eventData(event: Event): unknown {
    try {
      return JSON.parse((event as MessageEvent<string>).data);
    } catch {
      return undefined;
    }
  }
}
