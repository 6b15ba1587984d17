/**
 * The way to a job's gateway through Slurm itself, for nodes that refuse SSH or forwarding: each
 * stream is a step of the job, `srun --jobid=J --overlap --gres=none -N1 -n1 -u`, whose stdio a
 * relay on the node joins to the gateway on 127.0.0.1 (measured in reference/srun-relay.md).
 *
 * One step per stream, and streams are long-lived: one per kernel websocket, one keep-alive HTTP
 * connection for REST (the gateway client reuses it). MaxStepCount counts every step a job ever
 * makes, so a step per request would use a job's budget up within a day.
 */
import os from 'node:os';
import type { Duplex } from 'node:stream';
import {
  ICommandRunner,
  IStreamRunner,
  runChecked,
  RunningStreams
} from '../slurm/runner';
import { TunnelError } from './ssh';

/**
 * Runs on the node with the job environment's Python, `-I -S` (no site, no user environment: a
 * fast start). It prints nothing of its own: on Slurm before 24.05 a marker line costs the first
 * reply a 40 ms stall. stdin EOF half-closes the gateway's side, which then closes (Tornado).
 */
export const RELAY_PROGRAM = `import os,socket,sys,threading
try:
    s=socket.create_connection(("127.0.0.1",int(sys.argv[1])))
except OSError as e:
    sys.stderr.write("slurm-kernels relay: cannot reach the gateway on port %s: %s\\n"%(sys.argv[1],e))
    sys.exit(1)
s.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)
def up():
    try:
        while True:
            b=os.read(0,65536)
            if not b:break
            s.sendall(b)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        os._exit(1)
threading.Thread(target=up,daemon=True).start()
try:
    while True:
        b=s.recv(65536)
        if not b:break
        v=memoryview(b)
        while v:v=v[os.write(1,v):]
except OSError:
    os._exit(1)
`;

/** Where a job's gateway listens, as a relay step reaches it. */
export interface IRelayTarget {
  jobId: string;
  /** The node the gateway runs on (the batch host): the step must land there. */
  node: string;
  port: number;
  /** The job environment's Python (from the rendezvous file). */
  python: string;
}

export interface ISrunRelayOptions {
  /** Starts srun (locally; over the login node's ssh connection on a laptop). */
  runner: IStreamRunner;
  /** Runs squeue and scancel, to find and end steps an earlier companion left. */
  commands: ICommandRunner;
  /** Extra environment of srun (LD_PRELOAD of the NODELAY shim on Slurm before 24.05). */
  srunEnv?: () => Promise<NodeJS.ProcessEnv>;
  /** The steps' name; one per login host, so companions on other hosts keep theirs. */
  stepName?: string;
}

/** Streams to gateways as relay steps of their jobs. */
export class SrunRelay {
  constructor(private readonly _o: ISrunRelayOptions) {
    this.stepName = _o.stepName ?? relayStepName();
  }

  readonly stepName: string;

  /** How many relay steps this companion holds open now. */
  get openSteps(): number {
    return this._open.size;
  }

  /**
   * Starts a relay step and returns its stream. A step that cannot start (the job ended, srun
   * refused) ends the stream with a TunnelError carrying srun's own words.
   */
  async open(target: IRelayTarget): Promise<Duplex> {
    const env = (await this._o.srunEnv?.()) ?? {};
    const command = this._o.runner.stream(relayArgv(target, this.stepName), {
      env,
      failedStart: ({ code, signal, stderr }) =>
        code === 0
          ? undefined
          : new TunnelError(
              `job ${target.jobId}: the srun relay to ${target.node} did not start: ${lastLines(stderr) || `srun exited ${code ?? signal}`}`,
              'connect'
            )
    });
    return this._open.add(command);
  }

  /** Ends every relay step this companion started. */
  dispose(): void {
    this._open.stopAll();
  }

  /**
   * Ends the relay steps of a job that an earlier companion on this host left (one killed with
   * its srun's shepherd leaks its steps until the job ends). Returns the step ids it cancelled.
   */
  async reapLeftovers(jobId: string): Promise<string[]> {
    const listed = await runChecked(this._o.commands, [
      'squeue',
      '--noheader',
      '--steps',
      `--jobs=${jobId}`,
      '--format=%i %j'
    ]).catch(() => '');
    const ours = listed
      .split('\n')
      .map(line => line.trim().split(/\s+/))
      .filter(
        ([id, name]) => id?.startsWith(`${jobId}.`) && name === this.stepName
      )
      .map(([id]) => id);
    for (const step of ours) {
      await runChecked(this._o.commands, ['scancel', step]).catch(
        () => undefined
      );
    }
    return ours;
  }

  private _open = new RunningStreams();
}

/**
 * A step of the job as relays (and the doctor's check of them) run: in the job (`--overlap`: other
 * steps may hold its CPUs), on the gateway's node, off the GPUs (`--gres=none`), unbuffered (`-u`:
 * without it slurmstepd holds everything after the last newline, and a request hangs), with none of
 * the companion's environment (`--export=NONE`).
 */
export function stepArgv(
  jobId: string,
  node: string,
  stepName: string,
  program: string[]
): string[] {
  return [
    'srun',
    `--jobid=${jobId}`,
    '--overlap',
    '--gres=none',
    '--nodes=1',
    '--ntasks=1',
    `--nodelist=${node}`,
    '--unbuffered',
    '--export=NONE',
    '--quiet',
    `--job-name=${stepName}`,
    ...program
  ];
}

/** The relay step to a gateway, run by the job environment's Python. */
export function relayArgv(target: IRelayTarget, stepName: string): string[] {
  return stepArgv(target.jobId, target.node, stepName, [
    target.python,
    '-I',
    '-S',
    '-c',
    RELAY_PROGRAM,
    String(target.port)
  ]);
}

/** The relay steps' name: companions on other login hosts (one $HOME) keep their own steps. */
export function relayStepName(host = os.hostname()): string {
  return `slurm-kernels-relay@${host.split('.')[0]}`;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ').trim();
}
