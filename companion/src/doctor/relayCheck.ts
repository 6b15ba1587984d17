/**
 * The srun relay check: a step in a test job on its node, started as the companion starts a relay
 * (`--overlap --gres=none -u --export=NONE`), that must answer through its stdio. Where ssh to a
 * node fails, this is how the companion reaches it (nodeTransport `auto`).
 */
import { CommandError, ICommandRunner } from '../slurm';
import { fail, ICheckResult, ok, warn } from './report';
import { stepArgv } from '../tunnel/srunRelay';
import type { TransportMode } from '../tunnel/transport';

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

/**
 * How the companion will reach a node, given the ssh check's result: ssh where it works (or is
 * forced), else the relay. A node ssh refuses is a warning where the relay carries it (`auto`).
 */
export async function checkReachingNode(
  node: string,
  jobId: string,
  mode: TransportMode,
  sshResult: () => Promise<ICheckResult>,
  probe: RelayProbe
): Promise<ICheckResult[]> {
  const ssh = mode === 'srun' ? undefined : await sshResult();
  if (ssh?.status === 'ok' || mode === 'ssh') {
    return [ssh as ICheckResult];
  }
  const relay = await checkRelay(node, jobId, probe);
  if (!ssh) {
    return [relay];
  }
  if (relay.status !== 'ok') {
    return [ssh, relay];
  }
  return [
    warn(
      ssh.check,
      `${ssh.detail}; the companion reaches ${node} through the srun relay instead (bulk output is slower through Slurm's step I/O)`,
      ssh.fix ?? ''
    ),
    relay
  ];
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
