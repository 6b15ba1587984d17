/**
 * The companion's private files: everything under the user's state directory, directories 0700,
 * files 0600, written atomically (temp file + rename) so a crash never leaves half a file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `$XDG_STATE_HOME/slurm-kernels`, by default `~/.local/state/slurm-kernels`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'slurm-kernels');
}

/** Creates a directory (and parents) that only the user can enter, and fixes one that exists. */
export async function ensurePrivateDir(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  return dir;
}

export async function writePrivateFile(
  file: string,
  content: string | Buffer
): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.rename(tmp, file);
}

export async function readJsonIfExists(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

/** A random secret as hex, e.g. a gateway token. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * The companion's socket, one per user and host: `$XDG_RUNTIME_DIR/slurm-kernels/companion.sock`,
 * else `<state dir>/hosts/<hostname>/companion.sock`. The state dir is often on a home shared by
 * several login nodes: a socket (and the standby logic around it) must never be shared by two
 * hosts. The same rule as the jupyter-server-proxy entry point (jupyterlab_slurm_kernels/__init__.py)
 * and the shim's default, so a kernelspec published on one login node starts on another.
 */
export function defaultSocketPath(
  env: NodeJS.ProcessEnv = process.env,
  hostname = os.hostname()
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  try {
    if (runtime && statSync(runtime).isDirectory()) {
      return path.join(runtime, 'slurm-kernels', 'companion.sock');
    }
  } catch {
    // no runtime dir: a per-host place in the state dir
  }
  return path.join(defaultStateDir(env), 'hosts', hostname, 'companion.sock');
}
