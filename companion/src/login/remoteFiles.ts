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
import type { IFileStats, IStateFileSystem } from '../state/fileSystem';
import type { LoginLink } from './link';

export class RemoteFiles implements IStateFileSystem {
  constructor(private readonly _link: LoginLink) {}

  /**
   * The user's home directory on the cluster (where SFTP starts). Asked once: every kernel start
   * names its folder from it, and a home does not move while we are logged in.
   */
  home(): Promise<string> {
    this._home ??= this._link
      .sftp()
      .then(sftp => call<string>(cb => sftp.realpath('.', cb)))
      .catch(err => {
        this._home = undefined;
        throw err;
      });
    return this._home;
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

  async ensurePrivateDir(dir: string): Promise<string> {
    await this.makeDirectory(dir, 0o700);
    const sftp = await this._link.sftp();
    await call(cb => sftp.chmod(dir, 0o700, cb));
    return dir;
  }

  async writePrivateFile(file: string, content: string): Promise<void> {
    await this.ensurePrivateDir(path.dirname(file));
    await this.writeFile(file, content, 0o600);
  }

  async list(dir: string): Promise<string[]> {
    const sftp = await this._link.sftp();
    const entries = await call<Array<{ filename: string }>>(cb =>
      sftp.readdir(dir, cb)
    );
    return entries.map(e => e.filename);
  }

  async stat(file: string): Promise<IFileStats | undefined> {
    const sftp = await this._link.sftp();
    return call<{ size: number; mtime: number }>(cb =>
      sftp.stat(file, cb)
    ).then(
      s => ({ size: s.size, mtimeMs: s.mtime * 1000 }),
      err => (isMissing(err) ? undefined : Promise.reject(err))
    );
  }

  async touch(file: string): Promise<void> {
    const sftp = await this._link.sftp();
    const now = Date.now() / 1000;
    await call(cb => sftp.utimes(file, now, now, cb)).catch(err =>
      isMissing(err) ? this.writePrivateFile(file, '') : Promise.reject(err)
    );
  }

  async tail(file: string, maxBytes: number): Promise<string> {
    const sftp = await this._link.sftp();
    let handle: Buffer;
    try {
      handle = await call<Buffer>(cb => sftp.open(file, 'r', cb));
    } catch (err) {
      if (isMissing(err)) {
        return '';
      }
      throw err;
    }
    try {
      const { size } = await call<{ size: number }>(cb =>
        sftp.fstat(handle, cb)
      );
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      let read = 0;
      while (read < length) {
        const n = await call<number>(cb =>
          sftp.read(
            handle,
            buffer,
            read,
            length - read,
            size - length + read,
            cb
          )
        );
        if (n === 0) {
          break;
        }
        read += n;
      }
      return buffer.subarray(0, read).toString('utf8');
    } finally {
      await call(cb => sftp.close(handle, cb)).catch(() => undefined);
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
  async readText(file: string): Promise<string | undefined> {
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

  /** Removes a file, or a directory and all in it; nothing where it does not exist. */
  async remove(target: string): Promise<void> {
    const sftp = await this._link.sftp();
    const stats = await call<{ isDirectory(): boolean }>(cb =>
      sftp.lstat(target, cb)
    ).catch(err => (isMissing(err) ? undefined : Promise.reject(err)));
    if (!stats) {
      return;
    }
    if (stats.isDirectory()) {
      for (const name of await this.list(target)) {
        await this.remove(path.join(target, name));
      }
      await call(cb => sftp.rmdir(target, cb));
    } else {
      await call(cb => sftp.unlink(target, cb)).catch(err =>
        isMissing(err) ? undefined : Promise.reject(err)
      );
    }
  }

  private _home?: Promise<string>;
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
