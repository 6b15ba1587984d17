/**
 * The built companion, started the way jupyter-server-proxy starts it, answers GET /api/cluster
 * with the testbed's real partitions and GRES.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requestJson } from '../unit/http/request';
import { requireTestUser, waitFor } from './testbed';

const main = path.join(__dirname, '../../dist/companion/src/main.js');

describe('companion serve on the testbed', () => {
  let dir: string;
  let socketPath: string;
  let child: ChildProcess;

  beforeAll(async () => {
    requireTestUser();
    if (!existsSync(main)) {
      throw new Error(
        `build the companion first (npm run build in companion/): ${main} is missing`
      );
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-serve-'));
    socketPath = path.join(dir, 'companion.sock');
    child = spawn(process.execPath, [main, 'serve', '--socket', socketPath], {
      stdio: ['ignore', 'ignore', 'inherit']
    });
    await waitFor(
      'the companion socket',
      async () => existsSync(socketPath),
      10_000,
      50
    );
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on a socket only its user can open', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(socketPath).uid).toBe(os.userInfo().uid);
  });

  it('reports the partitions and GPUs read from sinfo', async () => {
    const res = await requestJson(socketPath, 'GET', '/api/cluster?refresh=1');
    expect(res.status).toBe(200);
    const names = res.body.partitions.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['cpu', 'gpu']));
    const gpu = res.body.partitions.find(
      (p: { name: string }) => p.name === 'gpu'
    );
    expect(gpu.maxTimeMinutes).toBe(480);
    expect(gpu.gpus.types).toEqual([
      expect.objectContaining({ type: 'tesla', maxPerNode: 2 })
    ]);
    expect(gpu.gpus.total).toBe(2 * gpu.nodes.length);
    expect(res.body.nodes.map((n: { name: string }) => n.name)).toEqual(
      gpu.nodes
    );
  });

  it("reports the user's accounts and QOS from Slurm's accounting", async () => {
    // dev/testbed/up.sh: alice in physics (default) and chemistry, with QOS normal and debug.
    const res = await requestJson(socketPath, 'GET', '/api/cluster?refresh=1');
    expect(res.status).toBe(200);
    expect(res.body.accounts).toEqual(['chemistry', 'physics']);
    expect(res.body.qos).toEqual(['debug', 'normal']);
  });

  it('has a second companion of the same user stand by, and take over when the first stops', async () => {
    let log = '';
    const second = spawn(
      process.execPath,
      [main, 'serve', '--socket', socketPath],
      {
        stdio: ['ignore', 'ignore', 'pipe']
      }
    );
    second.stderr?.on('data', (c: Buffer) => (log += c.toString('utf8')));
    try {
      await waitFor(
        'the second companion to stand by',
        async () => log.includes('standing by'),
        10_000,
        50
      );
      const firstExited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      await firstExited;
      await waitFor(
        'the second companion to take over',
        async () => log.includes('companion listening'),
        10_000,
        50
      );
      const res = await requestJson(socketPath, 'GET', '/api');
      expect(res.status).toBe(200);
    } finally {
      const exited = new Promise(resolve => second.once('exit', resolve));
      second.kill('SIGTERM');
      await exited;
    }
  });

  it('stops on SIGTERM and removes nothing it does not own', async () => {
    child = spawn(process.execPath, [main, 'serve', '--socket', socketPath], {
      stdio: ['ignore', 'ignore', 'inherit']
    });
    await waitFor(
      'the companion to answer',
      async () =>
        (await requestJson(socketPath, 'GET', '/api').catch(() => null))
          ?.status === 200,
      10_000,
      50
    );
    const exited = new Promise<number | null>(resolve =>
      child.once('exit', code => resolve(code))
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
