import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kernelDirectory } from '../../../src/allocations/gateway';

describe("the kernel's directory on the node", () => {
  let dir: string;
  let gpfsHome: string;
  let linkedHome: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sk-cwd-')));
    gpfsHome = path.join(dir, 'gpfs', 'home', 'alice');
    mkdirSync(path.join(gpfsHome, 'project'), { recursive: true });
    // /home → /gpfs/home, as many sites have it.
    symlinkSync(path.join(dir, 'gpfs', 'home'), path.join(dir, 'home'));
    linkedHome = path.join(dir, 'home', 'alice');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a directory under a linked home from $HOME, as the shim sees it resolved', () => {
    expect(kernelDirectory(path.join(gpfsHome, 'project'), linkedHome)).toBe(
      path.join(linkedHome, 'project')
    );
    expect(kernelDirectory(gpfsHome, linkedHome)).toBe(linkedHome);
  });

  it('keeps a directory under a plain home, and one outside home, absolute', () => {
    expect(kernelDirectory(path.join(gpfsHome, 'project'), gpfsHome)).toBe(
      path.join(gpfsHome, 'project')
    );
    expect(kernelDirectory('/scratch/alice/run1', linkedHome)).toBe(
      '/scratch/alice/run1'
    );
    // A sibling whose name starts like home's is not inside it.
    expect(kernelDirectory(`${gpfsHome}2/x`, gpfsHome)).toBe(`${gpfsHome}2/x`);
  });

  it("names a laptop's directory under its home by the same place under the cluster's home", () => {
    expect(
      kernelDirectory('/Users/alice/thesis/ch2', '/Users/alice', '/home/alice')
    ).toBe('/home/alice/thesis/ch2');
    expect(kernelDirectory('/Users/alice', '/Users/alice', '/home/alice')).toBe(
      '/home/alice'
    );
    // Outside the laptop's home nothing maps: the gateway falls back to the cluster's home.
    expect(kernelDirectory('/tmp/notes', '/Users/alice', '/home/alice')).toBe(
      '/tmp/notes'
    );
  });
});
