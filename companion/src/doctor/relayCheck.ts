/**
 * The srun relay check: a step in a test job on its node, started as the companion starts a relay
 * (`--overlap --gres=none -u --export=NONE`), that must answer through its stdio. Where ssh to a
 * node fails, this is how the companion reaches it (nodeTransport `auto`).
 */
import { CommandError, ICommandRunner } from '../slurm';
import { fail, ICheckResult, ok, warn } from './report';
import { stepArgv } from '../tunnel/srunRelay';
import type { TransportMode } from '../tunnel/transport';
import type { ISshCheck } from './sshCheck';

/** Starts a step in `jobId` on `node` and reads its answer; rejects with why it could not. */
export type RelayProbe = (jobId: string, node: string) => Promise<void>;

const ANSWER = 'slurm-kernels-relay-ok';

export function relayProbe(runner: ICommandRunner): RelayProbe {
  return async (jobId, node) => {
    const result = await runner.run(
      stepArgv(jobId, node, 'slurm-kernels-doctor', ['/bin/echo', ANSWER]),
      // A step waits silently where it cannot start (no --overlap): the wait must end.
      { timeoutMs: 20_000 }
    );
    if (result.code !== 0 || !result.stdout.includes(ANSWER)) {
      throw new CommandError(
        result.stderr.trim() || `srun exited ${result.code ?? result.signal}`,
        ['srun'],
        result
      );
    }
  };
}

/** The checks of each way to a node, run only where the companion would use that way. */
export interface INodeWayChecks {
  ssh: () => Promise<ISshCheck>;
  openSsh: () => Promise<ICheckResult>;
  relay: RelayProbe;
}

/**
 * How the companion will reach a node, as its nodeTransport says: ssh where it works (or is
 * forced); in auto, after a host-key or login refusal, the user's OpenSSH, and then the relay.
 * A way that fails is a warning where a later way carries the node.
 */
export async function checkReachingNode(
  node: string,
  jobId: string,
  mode: TransportMode,
  checks: INodeWayChecks
): Promise<ICheckResult[]> {
  switch (mode) {
    case 'ssh':
      return [(await checks.ssh()).result];
    case 'openssh':
      return [await checks.openSsh()];
    case 'srun':
      return [await checkRelay(node, jobId, checks.relay)];
  }
  const ssh = await checks.ssh();
  if (ssh.result.status === 'ok') {
    return [ssh.result];
  }
  const tried = [ssh.result];
  if (ssh.openSshMayHelp) {
    const openSsh = await checks.openSsh();
    if (openSsh.status === 'ok') {
      return [insteadBy(ssh.result, node, 'your OpenSSH (ssh -W)'), openSsh];
    }
    tried.push(openSsh);
  }
  const relay = await checkRelay(node, jobId, checks.relay);
  if (relay.status !== 'ok') {
    return [...tried, relay];
  }
  return [
    ...tried.map(result =>
      insteadBy(
        result,
        node,
        'the srun relay',
        " (bulk output is slower through Slurm's step I/O)"
      )
    ),
    relay
  ];
}

/** A failed way, as a warning: the companion reaches the node another way. */
function insteadBy(
  result: ICheckResult,
  node: string,
  way: string,
  aside = ''
): ICheckResult {
  return warn(
    result.check,
    `${result.detail}; the companion reaches ${node} through ${way} instead${aside}`,
    result.fix ?? ''
  );
}

async function checkRelay(
  node: string,
  jobId: string,
  probe: RelayProbe
): Promise<ICheckResult> {
  const check = `srun relay ${node}`;
  try {
    await probe(jobId, node);
  } catch (err) {
    return fail(
      check,
      `a step in job ${jobId} on ${node} did not answer: ${(err as Error).message}`,
      'the relay needs srun to start steps in a running job (`srun --jobid=J --overlap`) and the node to reach this host back (SrunPortRange, firewalls): ask the admins'
    );
  }
  return ok(check, `a step in job ${jobId} on ${node} answers through srun`);
}
