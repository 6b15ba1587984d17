/**
 * The way to a gateway through the user's OpenSSH client: the argv it runs (never a prompt, the
 * address the companion's ssh would use), and OpenSSH's own words sorted as ssh2's failures are.
 */
import { PassThrough } from 'node:stream';
import type { IStreamOptions } from '../../../src/slurm/runner';
import {
  forwardArgv,
  openSshError,
  OpenSshForwards
} from '../../../src/tunnel/openssh';
import { TunnelError } from '../../../src/tunnel/ssh';

describe('OpenSSH forwards', () => {
  it('runs ssh -W in batch mode, to the address the config or Slurm gives, with the config asked for', () => {
    expect(forwardArgv('node1', '10.77.0.11', '127.0.0.1', 40123)).toEqual([
      'ssh',
      '-T',
      '-o',
      'BatchMode=yes',
      '-o',
      'ServerAliveInterval=15',
      '-o',
      'ServerAliveCountMax=3',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'HostName=10.77.0.11',
      '-W',
      '127.0.0.1:40123',
      '--',
      'node1'
    ]);
    const argv = forwardArgv('node1', 'node1', '127.0.0.1', 1, '/etc/sk/ssh');
    expect(argv.slice(0, 3)).toEqual(['ssh', '-F', '/etc/sk/ssh']);
    expect(argv).not.toContain('HostName=node1');
  });

  it("sorts OpenSSH's failures as the companion's ssh does, in its own words", () => {
    const said = (stderr: string) => openSshError('node1', stderr, 255);
    expect(said('Host key verification failed.\n')).toMatchObject({
      kind: 'host-key',
      message: "node1: OpenSSH's ssh failed: Host key verification failed."
    });
    expect(
      said(
        "Warning: Permanently added 'node1' (ED25519) to the list of known hosts.\nalice@node1: Permission denied (publickey,hostbased).\n"
      )
    ).toMatchObject({
      kind: 'authentication',
      message:
        "node1: OpenSSH's ssh failed: alice@node1: Permission denied (publickey,hostbased)."
    });
    expect(
      said(
        'channel 0: open failed: administratively prohibited: open failed\nstdio forwarding failed\n'
      ).kind
    ).toBe('forward');
    expect(
      said('ssh: connect to host 10.77.0.11 port 22: Connection refused\n').kind
    ).toBe('connect');
    expect(openSshError('node1', '', 255).message).toBe(
      "node1: OpenSSH's ssh failed: it exited 255"
    );
  });

  it('ends the stream with that error when ssh exits before the gateway said anything', async () => {
    let failedStart: IStreamOptions['failedStart'];
    const stream = new PassThrough();
    const forwards = new OpenSshForwards({
      runner: {
        stream: (_argv, options) => {
          failedStart = options?.failedStart;
          return {
            stream,
            exited: new Promise(() => undefined),
            stop: () => undefined
          };
        }
      },
      hostConfig: async host => ({
        hostname: host,
        port: 22,
        user: 'alice',
        identityFiles: [],
        knownHostsFiles: [],
        publicKeys: true,
        knownAs: [host],
        unsupported: [],
        proxyJump: []
      })
    });
    expect(await forwards.open('node1', '127.0.0.1', 1)).toBe(stream);
    const failure = failedStart?.({
      code: 255,
      signal: null,
      stderr: 'Host key verification failed.\n'
    });
    expect(failure).toBeInstanceOf(TunnelError);
    expect((failure as TunnelError).kind).toBe('host-key');
    expect(
      failedStart?.({ code: 0, signal: null, stderr: '' })
    ).toBeUndefined();
    forwards.dispose();
  });
});
