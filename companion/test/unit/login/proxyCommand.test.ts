import { execFileSync } from 'node:child_process';
import { Duplex } from 'node:stream';
import { proxyCommandStream } from '../../../src/login/proxyCommand';

/** The pids and names of this test's child processes. */
function children(): string[] {
  try {
    return execFileSync(
      'ps',
      ['-o', 'pid=,comm=', '--ppid', String(process.pid)],
      {
        encoding: 'utf8'
      }
    )
      .split('\n')
      .map(line => line.trim())
      .filter(line => line && !/\bps$/.test(line));
  } catch {
    return []; // ps exits 1 where there are none
  }
}

/** Waits until `done()` holds (a test's timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) {
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

/** All the stream gives until it closes, or the error it fails with. */
function drained(stream: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('a ProxyCommand', () => {
  it("runs as OpenSSH runs it, under the user's shell with exec, its stdio the connection", async () => {
    // The shell parses the line (its quotes, "$0": the shell that runs it).
    const stream = proxyCommandStream(
      `sh -c 'echo "run by $1"; exec cat' proxy "$0"`,
      '/bin/bash'
    );
    let output = '';
    stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    stream.write('bytes for the server\n');
    await until(() => output.endsWith('server\n'));
    expect(output).toBe('run by /bin/bash\nbytes for the server\n');
    stream.end();
  });

  it('fails with how the proxy ended and what it said, where it ends before the connection', async () => {
    const stream = proxyCommandStream(
      `sh -c 'echo "nc: connect to login port 22 (tcp) failed: Connection refused" >&2; exit 1'`,
      '/bin/sh'
    );
    await expect(drained(stream)).rejects.toThrow(
      'the ProxyCommand exited with code 1: nc: connect to login port 22 (tcp) failed: Connection refused'
    );
  });

  it('says so where the shell cannot be run', async () => {
    await expect(
      drained(proxyCommandStream('true', '/nonexistent/shell'))
    ).rejects.toThrow(/^cannot run the ProxyCommand: .*ENOENT/);
  });

  it('hangs the proxy up when the connection ends, and leaves no process behind', async () => {
    const before = children();
    // A proxy that would outlive its stdin (nc waiting on the server).
    const stream = proxyCommandStream('sleep 60', '/bin/sh');
    const closed = drained(stream);
    const started = () => children().filter(line => !before.includes(line));
    await until(() => started().some(line => line.endsWith(' sleep')));
    // exec: the shell became the proxy; no shell waits on it.
    expect(started()).toEqual([expect.stringMatching(/ sleep$/)]);
    stream.end();
    await expect(closed).resolves.toBe('');
    await until(() => started().length === 0);
  });
});
