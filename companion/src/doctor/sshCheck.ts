/**
 * The ssh checks: from here to a test job's node with the companion's own SshPool (host key verified
 * against known_hosts, the user's key or agent), opening a tunnel as the companion does for a
 * gateway; and, where that is refused, through the user's OpenSSH (`ssh -W`) as the companion then
 * does.
 */
import type { Duplex } from 'node:stream';
import type { ICommandRunner, IStreamRunner } from '../slurm';
import { companionHostConfig } from '../tunnel/hostConfig';
import { OpenSshForwards } from '../tunnel/openssh';
import { SshPool, TunnelError } from '../tunnel/ssh';
import { NodeTransports } from '../tunnel/transport';
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

/** The ssh check's result, and whether the user's OpenSSH may succeed where it failed. */
export interface ISshCheck {
  result: ICheckResult;
  openSshMayHelp: boolean;
}

export async function checkSsh(
  node: string,
  user: string,
  probe: TunnelProbe
): Promise<ISshCheck> {
  const check = `ssh ${node}`;
  try {
    await probe(node);
  } catch (err) {
    return {
      result: sshFailure(check, node, user, err),
      openSshMayHelp: NodeTransports.openSshMayHelp(err)
    };
  }
  return {
    result: ok(
      check,
      `host key of ${node} known, login as ${user} with a key, port forwarding works`
    ),
    openSshMayHelp: false
  };
}

/**
 * A stream to the node's own sshd port through `ssh -W`, opened as the companion opens one to a
 * gateway; resolves once sshd's greeting came back through it.
 */
export function openSshProbe(
  runner: ICommandRunner & IStreamRunner,
  env: NodeJS.ProcessEnv = process.env
): TunnelProbe {
  return async node => {
    const forwards = new OpenSshForwards({
      runner,
      hostConfig: companionHostConfig(runner, env),
      configFile: env.SLURM_KERNELS_SSH_CONFIG
    });
    try {
      await sshGreeting(await forwards.open(node, '127.0.0.1', 22), node);
    } finally {
      forwards.dispose();
    }
  };
}

const GREETING_TIMEOUT_MS = 20_000;

/** Waits for an sshd's "SSH-2.0-…" line on `stream`; its error where it ends without one. */
function sshGreeting(stream: Duplex, node: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new TunnelError(
            `${node}: nothing came back through ssh -W in ${GREETING_TIMEOUT_MS / 1000} s`,
            'connect'
          )
        ),
      GREETING_TIMEOUT_MS
    );
    const done = (err?: Error) => {
      clearTimeout(timer);
      stream.destroy();
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    stream.once('data', (chunk: Buffer) =>
      chunk.toString('latin1').startsWith('SSH-')
        ? done()
        : done(
            new TunnelError(
              `${node}: ssh -W answered, but not with sshd's greeting`,
              'connect'
            )
          )
    );
    stream.once('error', err => done(err));
    stream.once('close', () =>
      done(new TunnelError(`${node}: ssh -W ended at once`, 'connect'))
    );
  });
}

export async function checkOpenSsh(
  node: string,
  probe: TunnelProbe
): Promise<ICheckResult> {
  const check = `openssh ${node}`;
  try {
    await probe(node);
  } catch (err) {
    return openSshFailure(check, node, err);
  }
  return ok(
    check,
    `your OpenSSH (ssh -W) verifies ${node}, logs in and forwards`
  );
}

function openSshFailure(
  check: string,
  node: string,
  err: unknown
): ICheckResult {
  const message = (err as Error).message;
  const kind = err instanceof TunnelError ? err.kind : 'connect';
  const fixes: Record<string, string> = {
    'host-key': `run \`ssh ${node} true\` once and check the fingerprint with the admins, or ask them for the known_hosts line (a @cert-authority line for the nodes works here)`,
    authentication: `\`ssh -o BatchMode=yes ${node} true\` must log in without a prompt: a key (in the agent where it has a passphrase), hostbased authentication or a certificate your ssh config names`,
    forward: `the companion reaches the gateway through ssh port forwarding: ask the admins to allow it (AllowTcpForwarding) on the compute nodes`,
    connect: `the companion needs ssh from this host to the compute nodes: ask the admins whether sshd runs on ${node} and lets users with a job there in`
  };
  return fail(check, message, fixes[kind] ?? fixes.connect);
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
      if (/PubkeyAuthentication no/.test(message)) {
        return fail(
          check,
          `the companion's ssh has no way to log in to ${node}: ${message}`,
          `nothing to do where your OpenSSH logs in (the openssh line); for the companion's own ssh, allow PubkeyAuthentication for ${node} in your ssh config and add your key to ~/.ssh/authorized_keys`
        );
      }
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
