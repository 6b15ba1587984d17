/**
 * `GET /api/cluster`: partitions, nodes, GRES and free GPUs, cached for a few seconds so that a
 * form opened in several tabs costs Slurm one sinfo + one scontrol per refresh.
 */
import { Router } from 'express';
import os from 'node:os';
import type { Cluster } from '../../../src/api/cluster';
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
    private readonly _clock: () => number = Date.now
  ) {
    this._associations = new AssociationsReader(
      _runner,
      os.userInfo().username
    );
  }

  get(options: { fresh?: boolean } = {}): Promise<Cluster> {
    const now = this._clock();
    if (!options.fresh && this._pending && now - this._readAt < this._ttlMs) {
      return this._pending;
    }
    this._readAt = now;
    this._pending = readCluster(this._runner, this._associations);
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

export function clusterRouter(cluster: IClusterSource): Router {
  const router = Router();
  router.get('/api/cluster', async (req, res) => {
    res.json(await cluster.get({ fresh: req.query.refresh === '1' }));
  });
  return router;
}
