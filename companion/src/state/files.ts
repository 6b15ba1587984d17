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
 * The companion's socket: `$XDG_RUNTIME_DIR/slurm-kernels/companion.sock`, else in the state dir
 * (the same rule as the jupyter-server-proxy entry point in jupyterlab_slurm_kernels/__init__.py).
 */
export function defaultSocketPath(
  env: NodeJS.ProcessEnv = process.env
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  let base = defaultStateDir(env);
  try {
    if (runtime && statSync(runtime).isDirectory()) {
      base = path.join(runtime, 'slurm-kernels');
    }
  } catch {
    // no runtime dir: use the state dir
  }
  return path.join(base, 'companion.sock');
}
