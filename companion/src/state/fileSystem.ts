/**
 * Where the companion's state and its jobs' files live, behind one interface: this host's file
 * system (the companion beside a lab on the login node, under the shared home), or the cluster's
 * reached over SFTP (a lab on a laptop: job scripts, tokens, rendezvous files and logs live where
 * the job reads and writes them). Directories 0700, files 0600 and written whole, on either.
 */
import { promises as fs } from 'node:fs';
import { ensurePrivateDir, writePrivateFile } from './files';

export interface IFileStats {
  size: number;
  mtimeMs: number;
}

export interface IStateFileSystem {
  /** Creates `dir` (and parents) only the user can enter, and fixes one that exists. */
  ensurePrivateDir(dir: string): Promise<string>;
  /** Writes `content` whole (a new 0600 file renamed over the old one), its directory made. */
  writePrivateFile(file: string, content: string): Promise<void>;
  /** The file as text, or undefined where it does not exist. */
  readText(file: string): Promise<string | undefined>;
  /** The names in `dir`; rejects where it cannot be read. */
  list(dir: string): Promise<string[]>;
  /** Size and time of a file, or undefined where it does not exist. */
  stat(file: string): Promise<IFileStats | undefined>;
  /** Removes a file or a whole directory; nothing where it does not exist. */
  remove(target: string): Promise<void>;
  /** Sets a file's time to now, creating it (empty, 0600) where it does not exist. */
  touch(file: string): Promise<void>;
  /** The last `maxBytes` of a file as text, '' where it does not exist. */
  tail(file: string, maxBytes: number): Promise<string>;
}

/** The file's JSON, undefined where it does not exist; rejects where it does not parse. */
export async function readJson(
  files: IStateFileSystem,
  file: string
): Promise<unknown> {
  const text = await files.readText(file);
  return text === undefined ? undefined : JSON.parse(text);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** This host's file system. */
export const localFileSystem: IStateFileSystem = {
  ensurePrivateDir,
  writePrivateFile,

  readText: file =>
    fs
      .readFile(file, 'utf8')
      .catch(err => (isMissing(err) ? undefined : Promise.reject(err))),

  list: dir => fs.readdir(dir),

  stat: file =>
    fs.stat(file).then(
      s => ({ size: s.size, mtimeMs: s.mtimeMs }),
      err => (isMissing(err) ? undefined : Promise.reject(err))
    ),

  remove: target => fs.rm(target, { recursive: true, force: true }),

  touch: async file => {
    const now = new Date();
    await fs
      .utimes(file, now, now)
      .catch(err =>
        isMissing(err) ? writePrivateFile(file, '') : Promise.reject(err)
      );
  },

  tail: async (file, maxBytes) => {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) {
        return '';
      }
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  }
};
