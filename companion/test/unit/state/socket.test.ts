/**
 * The companion, the shim and the jupyter-server-proxy entry point (Python) must agree on where a
 * host's companion listens: a kernelspec published on one login node is started on another.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSocketPath } from '../../../src/state/files';

const REPO = path.resolve(__dirname, '../../../..');

function pythonSocketPath(env: NodeJS.ProcessEnv): string {
  return execFileSync(
    'python3',
    [
      '-c',
      'import sys; sys.path.insert(0, sys.argv[1]); import jupyterlab_slurm_kernels as m; print(m._socket_path())',
      REPO
    ],
    { env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8' }
  ).trim();
}

describe("a host's companion socket", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-sock-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is per host under a shared state dir, where there is no runtime dir, and Python agrees', () => {
    const env = { HOME: dir, XDG_STATE_HOME: path.join(dir, 'state') };
    const socket = defaultSocketPath(env);
    expect(socket).toBe(
      path.join(
        dir,
        'state',
        'slurm-kernels',
        'hosts',
        os.hostname(),
        'companion.sock'
      )
    );
    expect(defaultSocketPath(env, 'login2')).not.toBe(socket);
    expect(pythonSocketPath(env)).toBe(socket);
  });

  it('is in the runtime dir where there is one, and Python agrees', () => {
    const runtime = path.join(dir, 'run');
    mkdirSync(runtime);
    const env = { HOME: dir, XDG_RUNTIME_DIR: runtime };
    expect(defaultSocketPath(env)).toBe(
      path.join(runtime, 'slurm-kernels', 'companion.sock')
    );
    expect(pythonSocketPath(env)).toBe(defaultSocketPath(env));
  });
});
