import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localFileSystem } from '../../../src/state/fileSystem';
import { behavesAsStateFileSystem } from '../../contracts/stateFileSystem';

const made: string[] = [];
afterAll(() =>
  made.forEach(dir => rmSync(dir, { recursive: true, force: true }))
);

describe("this host's file system as the companion's state", () => {
  behavesAsStateFileSystem(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'state-fs-'));
    made.push(dir);
    return { files: localFileSystem, dir };
  });
});
