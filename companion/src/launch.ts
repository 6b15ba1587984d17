/**
 * Starting the companion on demand, for the CLI and the kernel shim: in the background, logging to
 * the state dir, and once even when several ask at the same moment (the shims of every open kernel
 * do, after the companion was killed).
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync } from 'node:fs';
import path from 'node:path';
import { socketAnswers } from './http/app';
import { defaultStateDir, ensurePrivateDir } from './state/files';

/** A start lock older than this was left by a starter that died: it is taken over. */
const STALE_LOCK_MS = 20_000;

/**
 * Makes sure a companion answers on `socket`: starts `mainScript serve` unless one does or another
 * starter is at it, and waits for the socket to answer.
 *
 * #### Notes
 * Rejects with the log's path when no companion answers within `timeoutMs`.
 */
export async function ensureCompanion(
  socket: string,
  mainScript: string,
  timeoutMs = 15_000
): Promise<void> {
  if (await socketAnswers(socket)) {
    return;
  }
  const stateDir = await ensurePrivateDir(defaultStateDir());
  const logFile = path.join(stateDir, 'companion.log');
  await ensurePrivateDir(path.dirname(socket));
  const lock = `${socket}.starting`;
  let child: ReturnType<typeof spawn> | null = null;
  if (await takeLock(lock)) {
    const log = openSync(logFile, 'a', 0o600);
    // --unless-served: a companion that finds another one serving exits rather than standing by.
    child = spawn(
      process.execPath,
      [mainScript, 'serve', '--socket', socket, '--unless-served'],
      { detached: true, stdio: ['ignore', log, log] }
    );
    child.unref();
  }
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await socketAnswers(socket)) {
        return;
      }
      if (child && child.exitCode !== null) {
        break;
      }
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  } finally {
    if (child) {
      await fs.rm(lock, { force: true });
    }
  }
  throw new Error(`could not start the companion; see ${logFile}`);
}

/** Creates the lock file, or takes over one a dead starter left; false while another holds it. */
async function takeLock(lock: string): Promise<boolean> {
  try {
    await (await fs.open(lock, 'wx', 0o600)).close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw err;
    }
  }
  const age = await fs
    .stat(lock)
    .then(s => Date.now() - s.mtimeMs)
    .catch(() => Infinity);
  if (age < STALE_LOCK_MS) {
    return false;
  }
  await fs.rm(lock, { force: true });
  return takeLock(lock);
}
