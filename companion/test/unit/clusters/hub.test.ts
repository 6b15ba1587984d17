import express from 'express';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { ClusterEntry } from '../../../../src/api/clusters';
import { clusterNameFor } from '../../../../src/api/clusters';
import { ClusterHub, IClusterService } from '../../../src/clusters/hub';
import { ClusterRegistry } from '../../../src/clusters/registry';
import { IListening, listenOnSocket } from '../../../src/http/app';
import { requestJson } from '../http/request';

/** A cluster whose API says which cluster answered, and at which path. */
function fakeCluster(
  name: string,
  alias: string | null
): IClusterService & {
  disposed: boolean;
  active: boolean;
} {
  const app = express();
  app.use((req, res) =>
    res.json({ cluster: name, path: req.path, spec: req.body?.spec })
  );
  return {
    name,
    alias,
    login: alias ? 'up' : 'local',
    active: false,
    disposed: false,
    get hasActive() {
      return this.active;
    },
    handle: (req, res, next) => app(req, res, next),
    async dispose() {
      this.disposed = true;
    }
  };
}

describe('ClusterHub: the clusters of one lab', () => {
  let dir: string;
  let socket: string;
  let listening: IListening;
  let hub: ClusterHub;
  let registry: ClusterRegistry;
  let opened: ReturnType<typeof fakeCluster>[];
  const specs: Record<string, string> = { 'slurm-hpc-a-7-python3': 'hpc-a' };
  let forgotten: string[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-hub-'));
    socket = path.join(dir, 'c.sock');
    registry = new ClusterRegistry(path.join(dir, 'config', 'clusters.json'));
    opened = [];
    forgotten = [];
    hub = new ClusterHub({
      version: '9.9.9',
      log: pino({ level: 'silent' }),
      registry,
      open: (entry: ClusterEntry) => {
        const service = fakeCluster(entry.name, entry.alias);
        opened.push(service);
        return service;
      },
      checkAlias: async alias => {
        if (alias.includes('typo')) {
          throw new Error('no host typo is known here');
        }
      },
      clusterOfKernelspec: async spec => specs[spec],
      forgetKernelspecs: async name => void forgotten.push(name)
    });
    listening = await listenOnSocket(hub.app(), socket);
  });

  afterEach(async () => {
    await listening.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with no cluster yet, says how to add one', async () => {
    expect((await requestJson(socket, 'GET', '/')).status).toBe(200);
    const res = await requestJson(socket, 'GET', '/api/allocations');
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('no_cluster');
    expect(res.body.message).toMatch(/Add a cluster/);
  });

  it('adds a cluster by its alias: checked, saved 0600, opened, listed, served under its name', async () => {
    hub.serve(fakeCluster('local', null));
    const added = await requestJson(socket, 'POST', '/api/clusters', {
      alias: 'alice@hpc-a'
    });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      name: 'hpc-a',
      alias: 'alice@hpc-a',
      local: false,
      default: false,
      login: 'up'
    });
    expect(statSync(registry.file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(registry.file, 'utf8'))).toEqual({
      clusters: [{ name: 'hpc-a', alias: 'alice@hpc-a' }]
    });
    const listed = await requestJson(socket, 'GET', '/api/clusters');
    expect(listed.body.clusters.map((c: any) => [c.name, c.default])).toEqual([
      ['local', true],
      ['hpc-a', false]
    ]);
    expect(
      (await requestJson(socket, 'GET', '/clusters/hpc-a/api/allocations')).body
    ).toEqual({ cluster: 'hpc-a', path: '/api/allocations' });
    // The root is the default cluster's (the CLI's, a login node's shims).
    expect((await requestJson(socket, 'GET', '/api/allocations')).body).toEqual(
      { cluster: 'local', path: '/api/allocations' }
    );
  });

  it('refuses a bad alias, a typo and a name taken, each saying which field and why; nothing saved', async () => {
    const bad = await requestJson(socket, 'POST', '/api/clusters', {
      alias: '-oProxyCommand=x'
    });
    expect([bad.status, bad.body.field]).toEqual([400, 'alias']);
    const typo = await requestJson(socket, 'POST', '/api/clusters', {
      alias: 'typo'
    });
    expect([typo.status, typo.body.error, typo.body.field]).toEqual([
      422,
      'bad_alias',
      'alias'
    ]);
    expect(typo.body.message).toBe('typo: no host typo is known here');
    expect(
      (await requestJson(socket, 'POST', '/api/clusters', { alias: 'hpc-a' }))
        .status
    ).toBe(201);
    const taken = await requestJson(socket, 'POST', '/api/clusters', {
      alias: 'other@hpc-a'
    });
    expect([taken.status, taken.body.field]).toEqual([409, 'name']);
    const renamed = await requestJson(socket, 'POST', '/api/clusters', {
      alias: 'other@hpc-a',
      name: 'hpc-a2'
    });
    expect(renamed.status).toBe(201);
    expect((await registry.load()).map(c => c.name)).toEqual([
      'hpc-a',
      'hpc-a2'
    ]);
  });

  it("routes a kernel shim to its kernelspec's cluster", async () => {
    hub.serve(fakeCluster('local', null));
    hub.serve(fakeCluster('hpc-a', 'hpc-a'));
    const remote = await requestJson(socket, 'POST', '/internal/kernels', {
      spec: 'slurm-hpc-a-7-python3'
    });
    expect(remote.body.cluster).toBe('hpc-a');
    const local = await requestJson(socket, 'POST', '/internal/kernels', {
      spec: 'slurm-7-python3'
    });
    expect(local.body.cluster).toBe('local');
  });

  it('takes a cluster out only once nothing of it runs; the next lab does not open it', async () => {
    await requestJson(socket, 'POST', '/api/clusters', { alias: 'hpc-a' });
    opened[0].active = true;
    const busy = await requestJson(socket, 'DELETE', '/api/clusters/hpc-a');
    expect([busy.status, busy.body.error]).toEqual([409, 'cluster_busy']);
    opened[0].active = false;
    expect(
      (await requestJson(socket, 'DELETE', '/api/clusters/hpc-a')).status
    ).toBe(204);
    expect(opened[0].disposed).toBe(true);
    expect(forgotten).toEqual(['hpc-a']);
    expect(await registry.load()).toEqual([]);
    expect(
      (await requestJson(socket, 'GET', '/clusters/hpc-a/api')).status
    ).toBe(404);
  });

  it('adds a cluster asked for twice at once (two tabs) once, and an alias once', async () => {
    const [first, second] = await Promise.all([
      requestJson(socket, 'POST', '/api/clusters', { alias: 'hpc-a' }),
      requestJson(socket, 'POST', '/api/clusters', { alias: 'hpc-a' })
    ]);
    expect([first.status, second.status].sort()).toEqual([201, 409]);
    expect(opened).toHaveLength(1);
    const again = await requestJson(socket, 'POST', '/api/clusters', {
      alias: 'hpc-a',
      name: 'other'
    });
    expect([again.status, again.body.field]).toEqual([409, 'alias']);
    expect(again.body.message).toBe('hpc-a is already in this lab, as hpc-a');
    expect(await registry.load()).toEqual([{ name: 'hpc-a', alias: 'hpc-a' }]);
  });

  it('takes out a cluster not logged in only when told to (its allocations are not known)', async () => {
    await requestJson(socket, 'POST', '/api/clusters', { alias: 'hpc-a' });
    (opened[0] as { login: string }).login = 'asking';
    const unknown = await requestJson(socket, 'DELETE', '/api/clusters/hpc-a');
    expect([unknown.status, unknown.body.error]).toEqual([
      409,
      'cluster_not_logged_in'
    ]);
    expect(
      (await requestJson(socket, 'DELETE', '/api/clusters/hpc-a?force=1'))
        .status
    ).toBe(204);
  });

  it('opens the clusters earlier labs saved', async () => {
    await registry.add({ name: 'hpc-b', alias: 'hpc-b.example.org' });
    await hub.openSaved();
    expect(hub.summaries().map(s => s.name)).toEqual(['hpc-b']);
  });
});

describe('clusterNameFor', () => {
  it("takes the alias's host part, as a name kernelspecs can carry", () => {
    expect(clusterNameFor('alice@login.hpc.example.org')).toBe(
      'login.hpc.example.org'
    );
    expect(clusterNameFor('testbed-2fa')).toBe('testbed-2fa');
    // Jupyter lowercases kernelspec names: a name with capitals would not be found again.
    expect(clusterNameFor('Perlmutter')).toBe('perlmutter');
    expect(clusterNameFor('bob@[fe80::1]')).toBe('fe80--1');
  });
});
