/**
 * What every place the companion keeps state must do, whichever it is: this host's file system
 * (unit test) or the cluster's over SFTP (integration test login-link). The caller gives a fresh
 * directory, seen through the file system under test and through this host's `fs` (on the
 * testbed both see the same files), so modes and contents are checked independently.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { IStateFileSystem } from '../../src/state/fileSystem';
import { readJson } from '../../src/state/fileSystem';

export function behavesAsStateFileSystem(
  setUp: () => Promise<{ files: IStateFileSystem; dir: string }>
): void {
  let files: IStateFileSystem;
  let dir: string;
  beforeEach(async () => {
    ({ files, dir } = await setUp());
  });

  it('makes private directories and writes private files whole, parents made', async () => {
    const record = path.join(dir, 'allocations', 'a1', 'record.json');
    await files.writePrivateFile(record, '{"id": "a1"}');
    await files.writePrivateFile(record, '{"id": "a1", "state": "ready"}');
    expect(statSync(path.dirname(record)).mode & 0o777).toBe(0o700);
    expect(statSync(record).mode & 0o777).toBe(0o600);
    expect(await readJson(files, record)).toEqual({ id: 'a1', state: 'ready' });
    // Written whole: no temporary file is left beside it.
    expect(await files.list(path.dirname(record))).toEqual(['record.json']);
    expect(await files.ensurePrivateDir(path.join(dir, 'allocations'))).toBe(
      path.join(dir, 'allocations')
    );
  });

  it('says what does not exist instead of failing, except a listing', async () => {
    const missing = path.join(dir, 'missing');
    expect(await files.readText(missing)).toBeUndefined();
    expect(await readJson(files, missing)).toBeUndefined();
    expect(await files.stat(missing)).toBeUndefined();
    expect(await files.tail(missing, 10)).toBe('');
    await files.remove(missing);
    await expect(files.list(missing)).rejects.toBeTruthy();
  });

  it('touches a file into existence, then moves its time', async () => {
    const alive = path.join(dir, 'companion-alive');
    await files.touch(alive);
    expect(statSync(alive).mode & 0o777).toBe(0o600);
    const first = (await files.stat(alive))?.mtimeMs as number;
    await new Promise(resolve => setTimeout(resolve, 1100));
    await files.touch(alive);
    expect((await files.stat(alive))?.mtimeMs).toBeGreaterThan(first);
    expect((await files.stat(alive))?.size).toBe(0);
  });

  it("reads a log's tail and removes a whole directory", async () => {
    const log = path.join(dir, 'job', 'job.log');
    const text = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
    await files.writePrivateFile(log, text);
    expect(await files.tail(log, 9)).toBe('line 999\n');
    expect(await files.tail(log, 1_000_000)).toBe(readFileSync(log, 'utf8'));
    await files.writePrivateFile(path.join(dir, 'job', 'token'), 'secret');
    await files.remove(path.join(dir, 'job'));
    expect(await files.stat(path.join(dir, 'job'))).toBeUndefined();
  });
}
