/**
 * The NODELAY preload for the relay's srun: built with this host's C compiler, it sets TCP_NODELAY
 * on the sockets a process accepts and connects (checked in a real process that preloads it).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LocalRunner } from '../../../src/slurm/runner';
import type { ICommandRunner } from '../../../src/slurm/runner';
import { needsNodelay, srunNodelayEnv } from '../../../src/tunnel/srunNodelay';

/** This host's commands, with the srun version given. */
function withSrun(version: string): ICommandRunner {
  const local = new LocalRunner();
  return {
    run: (argv, options) =>
      argv[0] === 'srun'
        ? Promise.resolve({
            code: 0,
            signal: null,
            stdout: `${version}\n`,
            stderr: ''
          })
        : local.run(argv, options)
  };
}

const NODELAY_OF_BOTH_ENDS = `
import socket
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()
print(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
      client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
`;

describe('the srun NODELAY preload', () => {
  let cache: string;
  beforeEach(
    () => (cache = mkdtempSync(path.join(os.tmpdir(), 'sk-nodelay-')))
  );
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  it('is needed before Slurm 24.05 only', () => {
    expect(needsNodelay('slurm-wlm 22.05.8')).toBe(true);
    expect(needsNodelay('slurm 23.11.10')).toBe(true);
    expect(needsNodelay('slurm 24.05.0')).toBe(false);
    expect(needsNodelay('slurm 25.05.1')).toBe(false);
    expect(needsNodelay('something else')).toBe(false);
  });

  it('is built once into the cache and sets TCP_NODELAY on accepted and connected sockets', async () => {
    const env = { ...process.env, XDG_CACHE_HOME: cache, LD_PRELOAD: '' };
    const { LD_PRELOAD } = await srunNodelayEnv({
      runner: withSrun('slurm-wlm 22.05.8'),
      env
    })();
    expect(LD_PRELOAD).toMatch(
      new RegExp(
        `^${cache}/slurm-kernels/srun-nodelay-[0-9a-f]{12}-${os.arch()}\\.so$`
      )
    );
    const preloaded = await promisify(execFile)(
      'python3',
      ['-c', NODELAY_OF_BOTH_ENDS],
      {
        env: { ...process.env, LD_PRELOAD }
      }
    );
    expect(preloaded.stdout.trim()).toBe('True True');
    const plain = await promisify(execFile)('python3', [
      '-c',
      NODELAY_OF_BOTH_ENDS
    ]);
    expect(plain.stdout.trim()).toBe('False False');
    // A second companion finds it built.
    const again = await srunNodelayEnv({
      runner: withSrun('slurm-wlm 22.05.8'),
      env
    })();
    expect(again.LD_PRELOAD).toBe(LD_PRELOAD);
  });

  it('is never taken from a cache directory others may write: built privately instead', async () => {
    const shared = path.join(cache, 'slurm-kernels');
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const env = { ...process.env, XDG_CACHE_HOME: cache };
    const { LD_PRELOAD } = await srunNodelayEnv({
      runner: withSrun('slurm-wlm 22.05.8'),
      env
    })();
    expect(LD_PRELOAD).toMatch(
      new RegExp(`^${os.tmpdir()}/slurm-kernels-nodelay-`)
    );
    rmSync(path.dirname(LD_PRELOAD as string), {
      recursive: true,
      force: true
    });
  });

  it('is left out on 24.05 and later, and when turned off', async () => {
    const env = { ...process.env, XDG_CACHE_HOME: cache };
    expect(
      await srunNodelayEnv({ runner: withSrun('slurm 24.11.1'), env })()
    ).toEqual({});
    expect(
      await srunNodelayEnv({
        runner: withSrun('slurm-wlm 22.05.8'),
        env: { ...env, SLURM_KERNELS_SRUN_NODELAY: '0' }
      })()
    ).toEqual({});
  });

  it('is left out, with a warning, where no compiler builds it', async () => {
    const warned: string[] = [];
    const env = {
      ...process.env,
      XDG_CACHE_HOME: cache,
      CC: '/nonexistent/cc'
    };
    const got = await srunNodelayEnv({
      runner: withSrun('slurm-wlm 22.05.8'),
      env,
      log: { warn: (_o, m) => warned.push(m) }
    })();
    expect(got).toEqual({});
    expect(warned).toEqual([
      'srun relay without the NODELAY preload: replies may stall 40 ms'
    ]);
  });
});
