import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp, IListening, listenOnSocket } from '../../../src/http/app';
import { CachedCluster } from '../../../src/routes/cluster';
import {
  SCONTROL_PARTITIONS_ARGV,
  SINFO_NODES_ARGV
} from '../../../src/slurm/cluster';
import { FakeRunner } from '../slurm/fake-runner';
import { requestJson } from './request';
import { fixture } from '../fixtures';

describe('companion HTTP API on a unix socket', () => {
  let dir: string;
  let socketPath: string;
  let listening: IListening;
  let slurmDown = false;
  const runner = new FakeRunner(argv => {
    if (slurmDown) {
      return {
        code: 1,
        stderr:
          'slurm_load_partitions: Unable to contact slurm controller (connect failure)'
      };
    }
    if (argv[0] === SINFO_NODES_ARGV[0]) {
      return { stdout: fixture('sinfo-nodes.txt') };
    }
    return {
      stdout:
        argv[0] === SCONTROL_PARTITIONS_ARGV[0]
          ? fixture('scontrol-partitions.txt')
          : ''
    };
  });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-app-'));
    socketPath = path.join(dir, 'companion.sock');
    const app = createApp({
      cluster: new CachedCluster(runner, 0),
      log: pino({ level: 'silent' }),
      version: '9.9.9'
    });
    listening = await listenOnSocket(app, socketPath);
  });

  afterAll(async () => {
    await listening.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates its socket with mode 0600', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it('answers the readiness probe', async () => {
    const res = await requestJson(socketPath, 'GET', '/');
    expect(res).toEqual({
      status: 200,
      body: { name: 'jupyterlab-slurm-kernels companion', version: '9.9.9' }
    });
  });

  it('GET /api/cluster returns the partitions read from Slurm', async () => {
    const res = await requestJson(socketPath, 'GET', '/api/cluster');
    expect(res.status).toBe(200);
    expect(res.body.partitions.map((p: { name: string }) => p.name)).toEqual([
      'cpu',
      'gpu'
    ]);
    expect(res.body.partitions[1].gpus.free).toBe(3);
  });

  it("reports Slurm failures as 502 with Slurm's message", async () => {
    slurmDown = true;
    try {
      const res = await requestJson(socketPath, 'GET', '/api/cluster');
      expect(res.status).toBe(502);
      expect(res.body.error).toBe('slurm_error');
      expect(res.body.message).toMatch(/Unable to contact slurm controller/);
    } finally {
      slurmDown = false;
    }
  });

  it('answers unknown endpoints and bad JSON with JSON errors', async () => {
    const missing = await requestJson(socketPath, 'GET', '/api/nothing');
    expect(missing).toEqual({
      status: 404,
      body: {
        error: 'not_found',
        message: 'No such endpoint: GET /api/nothing'
      }
    });
    const bad = await requestJson(
      socketPath,
      'POST',
      '/api/cluster',
      '{not json'
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('bad_json');
  });
});

describe('CachedCluster', () => {
  it('serves repeated reads within the TTL from one Slurm round-trip', async () => {
    let now = 1000;
    const runner = new FakeRunner(argv => ({
      stdout:
        argv[0] === 'sinfo'
          ? fixture('sinfo-nodes.txt')
          : fixture('scontrol-partitions.txt')
    }));
    const cache = new CachedCluster(runner, 5000, () => now);
    await Promise.all([cache.get(), cache.get()]);
    expect(runner.calls).toHaveLength(3); // one sinfo, one scontrol, one sacctmgr
    now += 6000;
    await cache.get();
    expect(runner.calls).toHaveLength(6);
    await cache.get({ fresh: true });
    expect(runner.calls).toHaveLength(9);
  });
});
