/**
 * The ssh check: from here to a test job's node with the companion's own SshPool (host key verified
 * against known_hosts, the user's key or agent), opening a tunnel as the companion does for a gateway.
 */
import type { ICommandRunner } from '../slurm';
import { companionHostConfig } from '../tunnel/hostConfig';
import { SshPool, TunnelError } from '../tunnel/ssh';
import { fail, ICheckResult, ok } from './report';

/** Opens a tunnel through `node`; rejects with a TunnelError when ssh cannot. */
export type TunnelProbe = (node: string) => Promise<void>;

/**
 * A tunnel to the node's own sshd port (127.0.0.1:22 seen from the node): it needs what a tunnel to
 * a gateway needs, a verified host key, a login and port forwarding, and nothing to be running there.
 * The pool reaches the node as the companion's does: the user's ssh config (ssh -G), else Slurm's
 * NodeAddr.
 */
export function tunnelProbe(runner: ICommandRunner): TunnelProbe {
  return async node => {
    const pool = new SshPool({
      hostConfig: companionHostConfig(runner),
      // No pty session (only the companion's long-lived connections need one).
      interactive: false,
      readyTimeoutMs: 15_000
    });
    try {
      const channel = await pool.forward(node, '127.0.0.1', 22);
      channel.destroy();
    } finally {
      pool.dispose();
    }
  };
}

export async function checkSsh(
  node: string,
  user: string,
  probe: TunnelProbe
): Promise<ICheckResult> {
  const check = `ssh ${node}`;
  try {
    await probe(node);
  } catch (err) {
    return sshFailure(check, node, user, err);
  }
  return ok(
    check,
    `host key of ${node} known, login as ${user} with a key, port forwarding works`
  );
}

function sshFailure(
  check: string,
  node: string,
  user: string,
  err: unknown
): ICheckResult {
  const message = (err as Error).message;
  const kind = err instanceof TunnelError ? err.kind : 'connect';
  switch (kind) {
    case 'host-key':
      return fail(
        check,
        message,
        `add ${node}'s host key to ~/.ssh/known_hosts (or the UserKnownHostsFile your ssh config names; \`ssh ${node} true\` once, after checking its fingerprint with the admins), or ask the admins to list the nodes in /etc/ssh/ssh_known_hosts`
      );
    case 'authentication':
      return fail(
        check,
        `${node} does not accept ${user}'s ssh key (tried the IdentityFile keys of your ssh config, by default ~/.ssh/id_rsa, id_ecdsa, id_ed25519, and the ssh-agent): ${message}`,
        `add your public key (e.g. ~/.ssh/id_ed25519.pub) to ~/.ssh/authorized_keys (the home the nodes share), or load your key into ssh-agent; keys with a passphrase work only through the agent`
      );
    case 'forward':
      return fail(
        check,
        `${node} refuses to open a tunnel: ${message}`,
        'the companion reaches the gateway through ssh port forwarding: ask the admins to allow it (AllowTcpForwarding) on the compute nodes'
      );
    default:
      return fail(
        check,
        /ECONNREFUSED/.test(message)
          ? `${node}'s sshd does not answer (connection refused)`
          : `cannot reach ${node}'s sshd: ${message}`,
        `the companion needs ssh from this host to the compute nodes: ask the admins whether sshd runs on ${node} and lets users with a job there in`
      );
  }
}
