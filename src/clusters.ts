/**
 * The clusters this lab drives, each with a model of its own (its partitions, allocations and
 * kernels): the login node's own Slurm (`local`), and those added by ssh alias (laptop mode).
 * Where the companion cannot list them (an older one, or a stand-in that says why it cannot run),
 * one model at the companion's root shows what it says.
 */
import type { KernelSpec, ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import type { AddClusterInput, ClusterSummary } from './api/clusters';
import {
  addCluster,
  clusterSettings,
  CompanionError,
  fetchClusters,
  removeCluster
} from './handler';
import { SlurmKernelsModel } from './model';

/** A cluster of the lab and its model. */
export interface IClusterOfLab {
  /** Null for the fallback at the companion's root. */
  summary: ClusterSummary | null;
  model: SlurmKernelsModel;
}

export class ClusterDirectory implements IDisposable {
  constructor(private readonly _o: ClusterDirectory.IOptions) {}

  get clusters(): readonly IClusterOfLab[] {
    return this._clusters;
  }

  /** The cluster the panel shows: the one chosen last, else the default, else the first. */
  get selected(): IClusterOfLab | null {
    return (
      this._clusters.find(c => c.model.clusterName === this._selected) ??
      this._clusters.find(c => c.summary?.default) ??
      this._clusters[0] ??
      null
    );
  }

  select(name: string): void {
    this._selected = name;
    this._changed.emit();
  }

  /** Whether the list has been read (or found unreadable) once. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** The list, or a cluster, came or went; or the selection changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A model was made for a cluster: connect what follows its allocations. */
  get modelAdded(): ISignal<this, SlurmKernelsModel> {
    return this._modelAdded;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Reads the list; a model for each cluster new to it, none kept for one gone. */
  refresh(): Promise<void> {
    const done = this._read();
    this._firstRead ??= done;
    return done;
  }

  private async _read(): Promise<void> {
    let summaries: ClusterSummary[];
    try {
      summaries = await fetchClusters(this._o.serverSettings);
    } catch {
      if (this._clusters.length === 0) {
        this._adopt(null); // the companion's root says what is wrong
      }
      this._loaded = true;
      this._changed.emit();
      return;
    }
    const kept = this._clusters.filter(
      c => c.summary && summaries.some(s => s.name === c.summary?.name)
    );
    for (const gone of this._clusters.filter(c => !kept.includes(c))) {
      gone.model.dispose();
    }
    this._clusters = kept;
    for (const summary of summaries) {
      const known = this._clusters.find(c => c.summary?.name === summary.name);
      if (known) {
        known.summary = summary;
      } else {
        this._adopt(summary);
      }
    }
    this._loaded = true;
    this._changed.emit();
  }

  /** Adds a cluster by its ssh alias and shows it; rejects with why (a CompanionError, its field). */
  async add(input: AddClusterInput): Promise<ClusterSummary> {
    const added = await addCluster(input, this._o.serverSettings);
    this._selected = added.name;
    await this.refresh();
    return added;
  }

  /**
   * Adds every cluster named in the user's settings that the lab does not have yet (once the list
   * has been read); resolves why any could not be added.
   */
  async addMissing(wanted: AddClusterInput[]): Promise<string[]> {
    await (this._firstRead ?? this.refresh());
    const failures: string[] = [];
    for (const input of wanted) {
      const known = this._clusters.some(
        c =>
          c.summary &&
          (c.summary.alias === input.alias || c.summary.name === input.name)
      );
      if (!known) {
        await addCluster(input, this._o.serverSettings).catch(err => {
          // Added meanwhile (another tab): what the settings ask for is there.
          const already =
            err instanceof CompanionError &&
            err.code === 'cluster_exists' &&
            err.field === 'alias';
          if (!already) {
            failures.push(`${input.alias}: ${(err as Error).message}`);
          }
        });
      }
    }
    await this.refresh();
    return failures;
  }

  async remove(name: string): Promise<void> {
    await removeCluster(name, this._o.serverSettings);
    await this.refresh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clusters.forEach(c => c.model.dispose());
    this._clusters = [];
    Signal.clearData(this);
  }

  private _adopt(summary: ClusterSummary | null): void {
    const model = new SlurmKernelsModel({
      serverSettings: summary
        ? clusterSettings(this._o.serverSettings, summary.name)
        : this._o.serverSettings,
      clusterName: summary?.name,
      kernelspecs: this._o.kernelspecs
    });
    this._clusters = [...this._clusters, { summary, model }];
    this._modelAdded.emit(model);
  }

  private _clusters: IClusterOfLab[] = [];
  private _firstRead: Promise<void> | null = null;
  private _selected: string | null = null;
  private _loaded = false;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
  private _modelAdded = new Signal<this, SlurmKernelsModel>(this);
}

export namespace ClusterDirectory {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    kernelspecs?: KernelSpec.IManager;
  }
}
