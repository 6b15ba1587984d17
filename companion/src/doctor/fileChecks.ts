/**
 * Checks of the user's own directories: where kernelspecs are published, where the companion keeps
 * its state (tokens, job logs) and its socket.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { defaultJupyterDataDir } from '../kernelspecs/writer';
import { defaultSocketPath, defaultStateDir } from '../state/files';
import type { IDoctorContext } from './context';
import { fail, ICheckResult, ok, warn } from './report';

export async function checkKernelspecDir(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'kernelspec dir';
  const dir = path.join(defaultJupyterDataDir(ctx.env), 'kernels');
  const fix = `make it writable for ${ctx.user} (\`chmod u+w\`), or set JUPYTER_DATA_DIR to a writable directory for both JupyterLab and the companion`;
  const existing = await nearestExisting(dir);
  try {
    if (!(await fs.stat(existing)).isDirectory()) {
      return fail(check, `${existing} is not a directory`, fix);
    }
    if (existing === dir) {
      await tryCreatingIn(dir);
      return ok(check, `${dir} is writable`);
    }
    await fs.access(existing, constants.W_OK);
    return ok(
      check,
      `${dir} does not exist yet; it will be created in ${existing} (writable)`
    );
  } catch (err) {
    return fail(
      check,
      `cannot write in ${existing}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      fix
    );
  }
}

/** `dir` itself, or its closest ancestor that exists (where mkdir -p would start). */
async function nearestExisting(dir: string): Promise<string> {
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      await fs.stat(at);
      return at;
    } catch {
      if (at === path.dirname(at)) {
        return at;
      }
    }
  }
}

/**
 * Creates and removes a directory, as publishing a kernelspec does: access(W_OK) says yes on a
 * read-only or root-squashed file system where mkdir then fails. Jupyter ignores a folder without
 * kernel.json, so the probe never shows in a kernel list.
 */
async function tryCreatingIn(dir: string): Promise<void> {
  const probe = await fs.mkdtemp(path.join(dir, '.slurm-kernels-doctor-'));
  await fs.rm(probe, { recursive: true, force: true });
}

export function checkStateDir(ctx: IDoctorContext): Promise<ICheckResult> {
  return checkPrivateDir(ctx, 'state dir', defaultStateDir(ctx.env));
}

export function checkSocketDir(ctx: IDoctorContext): Promise<ICheckResult> {
  return checkPrivateDir(
    ctx,
    'socket dir',
    path.dirname(defaultSocketPath(ctx.env))
  );
}

/**
 * The companion's directories hold gateway tokens and a socket that runs code as the user: they
 * must be the user's own and closed to everyone else (0700).
 */
export async function checkPrivateDir(
  ctx: IDoctorContext,
  check: string,
  dir: string
): Promise<ICheckResult> {
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return ok(
        check,
        `${dir} does not exist yet; the companion creates it 0700`
      );
    }
    return fail(
      check,
      `cannot look at ${dir}: ${(err as Error).message}`,
      `make ${path.dirname(dir)} accessible to ${ctx.user}`
    );
  }
  const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
  if (stat.uid !== ctx.uid) {
    return fail(
      check,
      `${dir} belongs to uid ${stat.uid}, not to ${ctx.user} (uid ${ctx.uid})`,
      `remove it (it must be your own), or set XDG_STATE_HOME / XDG_RUNTIME_DIR to a directory of yours`
    );
  }
  if ((stat.mode & 0o700) !== 0o700) {
    return fail(
      check,
      `${dir} is mode ${mode}: ${ctx.user} cannot use it`,
      `chmod 700 ${dir}`
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    return warn(
      check,
      `${dir} is mode ${mode}: others can ${stat.mode & 0o044 ? 'read' : 'enter'} it`,
      `chmod 700 ${dir}`
    );
  }
  return ok(check, `${dir}: mode 0700, owned by ${ctx.user}`);
}
