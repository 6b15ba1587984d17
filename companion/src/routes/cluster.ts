/**
 * `GET /api/cluster`: partitions, nodes, GRES and free GPUs, cached for a few seconds so that a
 * form opened in several tabs costs Slurm one sinfo + one scontrol per refresh.
 */
import { Router } from 'express';
import os from 'node:os';
import type { Cluster } from '../../../src/api/cluster';
import type { SiteConfig } from '../../../src/api/site';
import { AssociationsReader, ICommandRunner, readCluster } from '../slurm';

export interface IClusterSource {
  get(options?: { fresh?: boolean }): Promise<Cluster>;
}

/**
 * Cluster reads with a short TTL; concurrent callers share one Slurm round-trip.
 */
export class CachedCluster implements IClusterSource {
  constructor(
    private readonly _runner: ICommandRunner,
    private readonly _ttlMs = 5_000,
    private readonly _clock: () => number = Date.now,
    private readonly _site: SiteConfig = {},
    /** Whose accounts and QOS to read: the cluster's user (a laptop's user may differ). */
    user = os.userInfo().username
  ) {
    this._associations = new AssociationsReader(_runner, user);
  }

  get(options: { fresh?: boolean } = {}): Promise<Cluster> {
    const now = this._clock();
    if (!options.fresh && this._pending && now - this._readAt < this._ttlMs) {
      return this._pending;
    }
    this._readAt = now;
    this._pending = readCluster(this._runner, this._associations).then(
      cluster => asTheSiteOffersIt(cluster, this._site)
    );
    // A failed read must not be served from the cache.
    this._pending.catch(() => {
      this._pending = null;
    });
    return this._pending;
  }

  private _associations: AssociationsReader;
  private _pending: Promise<Cluster> | null = null;
  private _readAt = 0;
}

/**
 * The cluster as the site's configuration offers it: only the partitions it names, in its order
 * (and the nodes of those), with what the form and the CLI need of its policy.
 */
export function asTheSiteOffersIt(cluster: Cluster, site: SiteConfig): Cluster {
  const policy = {
    partitions: site.partitions ?? null,
    defaults: site.defaults ?? {},
    idleCancelMinutes: site.idleCancelMinutes ?? null,
    noKernelCancelMinutes: site.noKernelCancelMinutes ?? null,
    gpuIdleCancelMinutes: site.gpuIdleCancelMinutes ?? null
  };
  const offered = site.partitions;
  if (!offered) {
    return { ...cluster, site: policy };
  }
  const kept = offered
    .map(name => cluster.partitions.find(p => p.name === name))
    .filter((p): p is Cluster['partitions'][number] => p !== undefined);
  // The site's default, else Slurm's where it is offered, else the first offered.
  const preferred =
    site.defaults?.partition ??
    kept.find(p => p.isDefault)?.name ??
    kept[0]?.name;
  const partitions = kept.map(p => ({ ...p, isDefault: p.name === preferred }));
  const nodes = cluster.nodes
    .map(n => ({
      ...n,
      partitions: n.partitions.filter(p => offered.includes(p))
    }))
    .filter(n => n.partitions.length > 0);
  return { ...cluster, partitions, nodes, site: policy };
}

export function clusterRouter(cluster: IClusterSource): Router {
  const router = Router();
  router.get('/api/cluster', async (req, res) => {
    res.json(await cluster.get({ fresh: req.query.refresh === '1' }));
  });
  return router;
}
