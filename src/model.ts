/**
 * The extension's state: the cluster, the user's allocations and presets, kept fresh with one Poll
 * (fast while something is starting, slow otherwise, paused while the page is hidden). Views render
 * from it; notifications and the kernel picker react to its transitions.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { Poll } from '@lumino/polling';
import type {
  Kernel,
  KernelSpec,
  ServerConnection
} from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import type { IDisposable } from '@lumino/disposable';
import type {
  Allocation,
  AllocationRequestInput,
  AllocationState
} from './api/allocation';
import type { Cluster } from './api/cluster';
import type { PresetMap } from './formModel';
import {
  cancelAllocation,
  fetchAllocations,
  fetchCluster,
  fetchJobLog,
  fetchPresets,
  previewJobScript,
  requestAllocation
} from './handler';
import { DEFAULTS, IDefaults } from './settings';
import { COMPANION_PATH } from './tokens';

/** A change of an allocation's state seen by the model. */
export interface ITransition {
  allocation: Allocation;
  from: AllocationState | null;
  to: AllocationState;
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
const FAST_MS = 2_000;
const SLOW_MS = 15_000;

export class SlurmKernelsModel implements IDisposable {
  constructor(options: SlurmKernelsModel.IOptions) {
    this._settings = options.serverSettings;
    this._kernelspecs = options.kernelspecs ?? null;
    this._kernels = options.kernels ?? null;
    this._poll = new Poll({
      factory: () => this._refresh(),
      frequency: { interval: SLOW_MS, backoff: true, max: 60_000 },
      standby: 'when-hidden',
      name: 'jupyterlab-slurm-kernels:allocations'
    });
    this._listen();
  }

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
    this._changed.emit();
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

  async cancel(id: string): Promise<void> {
    await cancelAllocation(id, this._settings);
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
      }
    }
    this._seen = true;
    if (specsChanged) {
      // The kernel picker shows the new kernels now, not at the next 61 s kernelspec poll.
      void this._kernelspecs?.refreshSpecs();
    }
    this._checkWalltime(next);
    void this._cancelIdle(next);
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
    this._events = new EventSource(
      URLExt.join(this._settings.baseUrl, COMPANION_PATH, 'api/events'),
      {
        withCredentials: true
      }
    );
    this._events.addEventListener('allocation', () => void this.refresh());
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
   * Cancels ready allocations whose kernels have all been idle for the configured minutes (none
   * running counts as idle since the allocation became ready): the user's setting or the site's
   * policy, whichever is stricter.
   */
  private async _cancelIdle(allocations: Allocation[]): Promise<void> {
    const limitMs =
      strictestIdleMinutes(
        this._defaults.idleCancelMinutes,
        this._cluster?.site?.idleCancelMinutes ?? 0
      ) * 60_000;
    if (limitMs <= 0 || !this._kernels) {
      return;
    }
    const running = [...this._kernels.running()];
    for (const allocation of allocations.filter(a => a.state === 'ready')) {
      const mine = running.filter(k =>
        k.name.startsWith(`slurm-${allocation.jobId}-`)
      );
      if (mine.some(k => k.execution_state === 'busy')) {
        continue;
      }
      const lastActive = Math.max(
        Date.parse(allocation.updatedAt),
        ...mine.map(k => (k.last_activity ? Date.parse(k.last_activity) : 0))
      );
      if (Date.now() - lastActive > limitMs) {
        await this.cancel(allocation.id);
      }
    }
  }

  private _settings: ServerConnection.ISettings;
  private _kernelspecs: KernelSpec.IManager | null;
  private _kernels: Kernel.IManager | null;
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
  private _changed = new Signal<this, void>(this);
  private _transitioned = new Signal<this, ITransition>(this);
  private _walltimeWarning = new Signal<this, IWalltimeWarning>(this);
}

export namespace SlurmKernelsModel {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    /** Refreshed when kernels appear or go, so the picker follows at once. */
    kernelspecs?: KernelSpec.IManager;
    /** Read for idle cancelling. */
    kernels?: Kernel.IManager;
  }
}

/** The shorter of two idle limits in minutes, where 0 means none. */
export function strictestIdleMinutes(user: number, site: number): number {
  const set = [user, site].filter(minutes => minutes > 0);
  return set.length > 0 ? Math.min(...set) : 0;
}
