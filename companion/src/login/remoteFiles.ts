/**
 * Files on the cluster's file system, over the laptop's one connection (SFTP): the job script,
 * tokens and rendezvous files live there, where the job reads and writes them, never on the
 * laptop. Secrets are created 0600 (the mode is given when the file is opened, so no moment
 * exists when others could read them), and written whole: a temporary file renamed over the
 * target (OpenSSH's posix-rename), so a reader on another node never sees half a token.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path/posix';
import type { SFTPWrapper } from 'ssh2';
import type { LoginLink } from './link';

export class RemoteFiles {
  constructor(private readonly _link: LoginLink) {}

  /** The user's home directory on the cluster (where SFTP starts). */
  async home(): Promise<string> {
    const sftp = await this._link.sftp();
    return call<string>(cb => sftp.realpath('.', cb));
  }

  /** Creates `dir` and its missing parents, each `mode` (the umask may take more away). */
  async makeDirectory(dir: string, mode = 0o700): Promise<void> {
    const sftp = await this._link.sftp();
    const missing: string[] = [];
    for (let at = dir; at !== path.dirname(at); at = path.dirname(at)) {
      if (await exists(sftp, at)) {
        break;
      }
      missing.unshift(at);
    }
    for (const each of missing) {
      await call(cb => sftp.mkdir(each, { mode }, cb));
    }
  }

  /** Writes `data` to `file` whole, as a new file of `mode` renamed over the old one. */
  async writeFile(
    file: string,
    data: string | Buffer,
    mode = 0o600
  ): Promise<void> {
    const sftp = await this._link.sftp();
    const temporary = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`
    );
    await call(cb => sftp.writeFile(temporary, data, { mode, flag: 'wx' }, cb));
    try {
      await call(cb => sftp.ext_openssh_rename(temporary, file, cb));
    } catch (err) {
      await call(cb => sftp.unlink(temporary, cb)).catch(() => undefined);
      throw err;
    }
  }

  async readFile(file: string): Promise<Buffer> {
    const sftp = await this._link.sftp();
    return call<Buffer>(cb => sftp.readFile(file, cb));
  }

  /** The file as text, or undefined where it does not exist. */
  async readTextIfExists(file: string): Promise<string | undefined> {
    return this.readFile(file).then(
      data => data.toString('utf8'),
      err => (isMissing(err) ? undefined : Promise.reject(err))
    );
  }

  /** The file's mode bits (permissions and type), or undefined where it does not exist. */
  async mode(file: string): Promise<number | undefined> {
    const sftp = await this._link.sftp();
    return call<{ mode: number }>(cb => sftp.stat(file, cb)).then(
      stats => stats.mode,
      err => (isMissing(err) ? undefined : Promise.reject(err))
    );
  }

  async remove(file: string): Promise<void> {
    const sftp = await this._link.sftp();
    await call(cb => sftp.unlink(file, cb)).catch(err =>
      isMissing(err) ? undefined : Promise.reject(err)
    );
  }
}

/** SFTP's "no such file" (status 2). */
function isMissing(err: unknown): boolean {
  return (err as { code?: number }).code === 2;
}

async function exists(sftp: SFTPWrapper, at: string): Promise<boolean> {
  return call<unknown>(cb => sftp.stat(at, cb)).then(
    () => true,
    err => (isMissing(err) ? false : Promise.reject(err))
  );
}

/** An SFTP call as a promise. */
function call<T = void>(
  start: (callback: (err: Error | null | undefined, value: T) => void) => void
): Promise<T> {
  return new Promise((resolve, reject) =>
    start((err, value) => (err ? reject(err) : resolve(value)))
  );
}
