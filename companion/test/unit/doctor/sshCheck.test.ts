import { PassThrough } from 'node:stream';
import {
  checkOpenSsh,
  checkSsh,
  openSshProbe
} from '../../../src/doctor/sshCheck';
import type { ICheckResult } from '../../../src/doctor/report';
import type { IStreamedCommand } from '../../../src/slurm';
import { TunnelError } from '../../../src/tunnel/ssh';

/** The check's verdict where the tunnel fails with this TunnelError. */
async function checkFailing(
  node: string,
  message: string,
  kind: TunnelError['kind']
): Promise<ICheckResult> {
  return (
    await checkSsh(node, 'alice', async () => {
      throw new TunnelError(message, kind);
    })
  ).result;
}

describe('doctor: ssh to a node', () => {
  it('is ok when a tunnel opens', async () => {
    const opened: string[] = [];
    expect(
      await checkSsh('node1', 'alice', async node => {
        opened.push(node);
      })
    ).toEqual({
      result: {
        check: 'ssh node1',
        status: 'ok',
        detail:
          'host key of node1 known, login as alice with a key, port forwarding works'
      },
      openSshMayHelp: false
    });
    expect(opened).toEqual(['node1']);
  });

  it('fails on an unknown host key, naming the node and both known_hosts files', async () => {
    const result = await checkFailing(
      'node1',
      'node1: node1 is not in known_hosts; connect once with ssh to verify and add its key',
      'host-key'
    );
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/^node1: node1 is not in known_hosts/);
    expect(result.fix).toMatch(
      /add node1's host key to ~\/\.ssh\/known_hosts .*\/etc\/ssh\/ssh_known_hosts/
    );
  });

  it('fails on a refused login, naming the keys and the agent', async () => {
    const result = await checkFailing(
      'node2',
      'node2: ssh authentication failed (keys in ~/.ssh or ssh-agent)',
      'authentication'
    );
    expect(result.detail).toMatch(
      /^node2 does not accept alice's ssh key \(tried the IdentityFile keys of your ssh config, by default ~\/\.ssh\/id_rsa, id_ecdsa, id_ed25519, and the ssh-agent\)/
    );
    expect(result.fix).toMatch(/authorized_keys.*ssh-agent/);
  });

  it('does not blame a key where the ssh config turns keys off (hostbased logins only)', async () => {
    const result = await checkFailing(
      'node2',
      "node2: ssh authentication failed (no keys: the ssh config sets PubkeyAuthentication no; the ssh config also logs in with hostbased authentication (ssh-keysign), which the companion's ssh cannot use)",
      'authentication'
    );
    expect(result.detail).toMatch(
      /^the companion's ssh has no way to log in to node2: .*hostbased/
    );
    expect(result.fix).toMatch(/^nothing to do where your OpenSSH logs in/);
  });

  it("says the node's sshd does not answer when the connection is refused", async () => {
    const result = await checkFailing(
      'node1',
      'node1: cannot connect with ssh: connect ECONNREFUSED 10.77.0.11:22',
      'connect'
    );
    expect(result).toMatchObject({
      status: 'fail',
      detail: "node1's sshd does not answer (connection refused)",
      fix: expect.stringMatching(/whether sshd runs on node1/)
    });
  });

  it('fails when sshd refuses the tunnel', async () => {
    const result = await checkFailing(
      'node1',
      'node1: cannot open a tunnel to 127.0.0.1:22: administratively prohibited',
      'forward'
    );
    expect(result.detail).toMatch(
      /^node1 refuses to open a tunnel: .*administratively prohibited/
    );
    expect(result.fix).toMatch(/AllowTcpForwarding/);
  });

  it("says where the user's OpenSSH may succeed: after a host-key or login refusal, not a dead sshd", async () => {
    const mayHelp = async (kind: TunnelError['kind']) =>
      (
        await checkSsh('node1', 'alice', async () => {
          throw new TunnelError('refused', kind);
        })
      ).openSshMayHelp;
    expect(await mayHelp('host-key')).toBe(true);
    expect(await mayHelp('authentication')).toBe(true);
    expect(await mayHelp('connect')).toBe(false);
    expect(await mayHelp('forward')).toBe(false);
  });
});

describe("doctor: the user's OpenSSH to a node", () => {
  /** Starts `ssh` as a stream that writes `greeting` (sshd's, or nothing) and then `exit`s. */
  function streamRunner(
    greeting: string,
    exit: { code: number; stderr: string }
  ) {
    const started: string[][] = [];
    return {
      started,
      run: async () => ({ code: 255, signal: null, stdout: '', stderr: '' }),
      stream: (
        argv: readonly string[],
        options?: { failedStart?: (e: never) => Error | undefined }
      ): IStreamedCommand => {
        started.push([...argv]);
        const stream = new PassThrough();
        const exited = Promise.resolve({ ...exit, signal: null });
        setImmediate(() => {
          if (greeting) {
            stream.write(greeting);
          } else {
            stream.destroy(
              (
                options?.failedStart as
                  ((e: unknown) => Error | undefined) | undefined
              )?.({ ...exit, signal: null })
            );
          }
        });
        return { stream, exited, stop: () => stream.destroy() };
      }
    };
  }

  it("is ok once sshd's greeting comes back through ssh -W", async () => {
    const runner = streamRunner('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n', {
      code: 0,
      stderr: ''
    });
    const result = await checkOpenSsh('node1', openSshProbe(runner, {}));
    expect(result).toMatchObject({ check: 'openssh node1', status: 'ok' });
    expect(runner.started[0]).toEqual(
      expect.arrayContaining([
        '-o',
        'BatchMode=yes',
        '-W',
        '127.0.0.1:22',
        '--',
        'node1'
      ])
    );
  });

  it("fails with OpenSSH's own words and a fix for what it refused", async () => {
    const runner = streamRunner('', {
      code: 255,
      stderr: 'alice@node1: Permission denied (publickey,hostbased).\n'
    });
    const result = await checkOpenSsh('node1', openSshProbe(runner, {}));
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/Permission denied \(publickey,hostbased\)/);
    expect(result.fix).toMatch(/BatchMode=yes node1 true.*hostbased/);
  });
});
