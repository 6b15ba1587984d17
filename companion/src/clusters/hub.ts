/**
 * The companion's front: the clusters one lab drives, each with the whole API under
 * `/clusters/<name>/`, the default one also at the root (what the CLI, the kernel shims of a
 * login node and older labs use). `GET /api/clusters` lists them, `POST /api/clusters` adds one
 * by its ssh alias (checked with `ssh -G`, saved, logged in at once: its questions come on its
 * own event stream), `DELETE /api/clusters/:name` takes one out of the lab (refused while it has
 * allocations that are not over: they would run on, out of sight).
 */
import express, { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import {
  addClusterSchema,
  ClusterEntry,
  clusterNameFor,
  ClusterSummary,
  LOCAL_CLUSTER
} from '../../../src/api/clusters';
import { companionApp } from '../http/app';
import { errorHandler, HttpError } from '../http/errors';
import type { ClusterRegistry } from './registry';

/** One cluster of the lab: its whole API, and what the list says of it. */
export interface IClusterService {
  readonly name: string;
  /** The ssh alias it is reached by; null for the login node's own Slurm. */
  readonly alias: string | null;
  /** The login's state ("up", "asking", …), "local" for the login node's own. */
  readonly login: string;
  /** Whether it has an allocation that is not over. */
  readonly hasActive: boolean;
  /** Serves a request of its API (a path as at the root: /api/allocations…). */
  handle(req: Request, res: Response, next: NextFunction): void;
  /** Stops polling and logs out; its jobs and kernels run on. */
  dispose(): Promise<void>;
}

export interface IHubOptions {
  version: string;
  log: Logger;
  registry: ClusterRegistry;
  /** Opens a cluster added from the lab. */
  open(entry: ClusterEntry): IClusterService;
  /** Throws, saying why, where ssh cannot make sense of the alias. */
  checkAlias(alias: string): Promise<void>;
  /** The cluster a kernelspec of ours belongs to (its metadata), for the kernel shims. */
  clusterOfKernelspec(spec: string): Promise<string | undefined>;
  /** Removes a cluster's kernelspecs, once it is out of the lab. */
  forgetKernelspecs(cluster: string): Promise<void>;
}

export class ClusterHub {
  constructor(private readonly _o: IHubOptions) {}

  /** Serves a cluster; the first one served is the default. */
  serve(service: IClusterService): void {
    this._services.set(service.name, service);
  }

  get services(): IClusterService[] {
    return [...this._services.values()];
  }

  get hasActive(): boolean {
    return this.services.some(s => s.hasActive);
  }

  get default(): IClusterService | undefined {
    return this.services[0];
  }

  /** Opens the clusters saved by earlier labs. A broken entry is logged, the rest are served. */
  async openSaved(): Promise<void> {
    for (const entry of await this._o.registry.load()) {
      if (this._services.has(entry.name)) {
        continue;
      }
      try {
        this.serve(this._o.open(entry));
      } catch (err) {
        this._o.log.error(
          { cluster: entry.name, err: (err as Error).message },
          'saved cluster not opened'
        );
      }
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.services.map(s => s.dispose()));
  }

  summaries(): ClusterSummary[] {
    return this.services.map(s => ({
      name: s.name,
      alias: s.alias,
      local: s.alias === null,
      default: s === this.default,
      login: s.login
    }));
  }

  app(): express.Express {
    // The probe is answered before any login.
    const app = companionApp(this._o.version, () => ({
      clusters: this.services.map(s => s.name)
    }));
    app.get('/api/clusters', (_req, res) => {
      res.json({ clusters: this.summaries() });
    });
    app.post('/api/clusters', (req, res, next) => {
      this._add(req.body).then(summary => res.status(201).json(summary), next);
    });
    app.delete('/api/clusters/:name', (req, res, next) => {
      this._remove(req.params.name, req.query.force === '1').then(
        () => res.status(204).end(),
        next
      );
    });
    app.use('/clusters/:name', (req, res, next) => {
      this._named(req.params.name).handle(req, res, next);
    });
    // A kernel shim names its kernelspec; the kernelspec names its cluster.
    app.post('/internal/kernels', (req, res, next) => {
      this._ofKernelspec(req.body?.spec).then(
        service => service.handle(req, res, next),
        next
      );
    });
    app.use((req, res, next) => {
      const service = this.default;
      if (!service) {
        next(
          new HttpError(
            404,
            'no_cluster',
            'No cluster yet: add one by its ssh config alias (the panel\'s "Add a cluster", or POST /api/clusters)'
          )
        );
        return;
      }
      service.handle(req, res, next);
    });
    app.use(errorHandler(this._o.log));
    return app;
  }

  private async _add(body: unknown): Promise<ClusterSummary> {
    const parsed = addClusterSchema.safeParse(body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HttpError(
        400,
        'invalid_request',
        issue.message,
        String(issue.path[0] ?? 'alias')
      );
    }
    const { alias } = parsed.data;
    const name = parsed.data.name ?? clusterNameFor(alias);
    if (this.services.some(s => s.alias === alias)) {
      // Two managers of one alias would keep the same records on the cluster: one is enough.
      throw new HttpError(
        409,
        'cluster_exists',
        `${alias} is already in this lab, as ${this.services.find(s => s.alias === alias)?.name}`,
        'alias'
      );
    }
    if (
      name === LOCAL_CLUSTER ||
      this._services.has(name) ||
      this._adding.has(name)
    ) {
      throw new HttpError(
        409,
        'cluster_exists',
        `A cluster named ${name} is already in this lab; give this one another name`,
        'name'
      );
    }
    // Held from here, so a second request for it (another tab) is refused, not logged in twice.
    this._adding.add(name);
    try {
      try {
        await this._o.checkAlias(alias);
      } catch (err) {
        throw new HttpError(
          422,
          'bad_alias',
          `${alias}: ${(err as Error).message}`,
          'alias'
        );
      }
      const entry: ClusterEntry = { name, alias };
      await this._o.registry.add(entry).catch(err => {
        throw new HttpError(
          500,
          'clusters_not_saved',
          `${name} was not added: ${(err as Error).message}`
        );
      });
      this.serve(this._o.open(entry));
    } finally {
      this._adding.delete(name);
    }
    this._o.log.info({ cluster: name, alias }, 'cluster added');
    return this.summaries().find(s => s.name === name) as ClusterSummary;
  }

  private async _remove(name: string, force: boolean): Promise<void> {
    const service = this._named(name);
    if (service.alias === null) {
      throw new HttpError(
        409,
        'local_cluster',
        "The login node's own cluster cannot be taken out of the lab"
      );
    }
    if (service.hasActive) {
      throw new HttpError(
        409,
        'cluster_busy',
        `${name} has allocations that are not over: cancel them first, or they run on out of sight of this lab`
      );
    }
    if (service.login !== 'up' && !force) {
      throw new HttpError(
        409,
        'cluster_not_logged_in',
        `${name} is not logged in, so whether allocations of it still run is not known: log in first, or take it out anyway (?force=1)`
      );
    }
    // Saved first: a list that cannot be written keeps the cluster served, as it stays saved.
    await this._o.registry.remove(name);
    this._services.delete(name);
    await service.dispose();
    await this._o.forgetKernelspecs(name);
    this._o.log.info({ cluster: name }, 'cluster removed');
  }

  private _named(name: string): IClusterService {
    const service = this._services.get(name);
    if (!service) {
      throw new HttpError(
        404,
        'no_such_cluster',
        `No cluster named ${name} in this lab`
      );
    }
    return service;
  }

  private async _ofKernelspec(spec: unknown): Promise<IClusterService> {
    const cluster =
      typeof spec === 'string'
        ? await this._o.clusterOfKernelspec(spec)
        : undefined;
    const service = cluster
      ? this._services.get(cluster)
      : (this._services.get(LOCAL_CLUSTER) ?? this.default);
    if (!service) {
      throw new HttpError(
        404,
        'not_found',
        `no cluster in this lab serves kernelspec ${String(spec)}${cluster ? ` (cluster ${cluster})` : ''}`
      );
    }
    return service;
  }

  private readonly _services = new Map<string, IClusterService>();
  /** Names being added now (the alias checked, the list saved). */
  private readonly _adding = new Set<string>();
}
