import { checkSsh } from '../../../src/doctor/sshCheck';
import { TunnelError } from '../../../src/tunnel/ssh';

/** The check's verdict where the tunnel fails with this TunnelError. */
function checkFailing(
  node: string,
  message: string,
  kind: TunnelError['kind']
): ReturnType<typeof checkSsh> {
  return checkSsh(node, 'alice', async () => {
    throw new TunnelError(message, kind);
  });
}

describe('doctor: ssh to a node', () => {
  it('is ok when a tunnel opens', async () => {
    const opened: string[] = [];
    expect(
      await checkSsh('node1', 'alice', async node => {
        opened.push(node);
      })
    ).toEqual({
      check: 'ssh node1',
      status: 'ok',
      detail:
        'host key of node1 known, login as alice with a key, port forwarding works'
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
});
