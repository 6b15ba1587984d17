/**
 * How the companion reaches a job's gateway: ssh to the node (fast), the user's OpenSSH client
 * (where only it can verify the node or log in: host certificates, hostbased authentication), or a
 * relay step through `srun` (where nodes refuse SSH or forwarding). `auto` tries them in that order
 * (OpenSSH only where ssh's refusal was the host key or the login); a node that refused ssh goes
 * straight to what worked for a while, so every allocation on it does not wait again.
 */
import type { Duplex } from 'node:stream';
import {
  TransportKind,
  TransportMode,
  transportModes
} from '../../../src/api/allocation';
import type { OpenSshForwards } from './openssh';
import { SrunRelay } from './srunRelay';
import { SshPool, TunnelError } from './ssh';

export type { TransportKind, TransportMode };

/**
 * The mode for this user: SLURM_KERNELS_NODE_TRANSPORT (auto, ssh, openssh, srun), else the site's
 * `nodeTransport`, else auto. An unknown value is an error that names it.
 */
export function transportModeFrom(
  env: NodeJS.ProcessEnv,
  site: { nodeTransport?: TransportMode }
): TransportMode {
  const asked = env.SLURM_KERNELS_NODE_TRANSPORT;
  if (asked) {
    if (!(transportModes as readonly string[]).includes(asked)) {
      throw new Error(
        `SLURM_KERNELS_NODE_TRANSPORT=${asked}: expected one of ${transportModes.join(', ')}`
      );
    }
    return asked as TransportMode;
  }
  return site.nodeTransport ?? 'auto';
}

/** One way to a gateway: opens byte streams to it. */
export interface INodeTransport {
  readonly kind: TransportKind;
  open(): Promise<Duplex>;
  /** How many REST connections the gateway client keeps open on it. */
  readonly restConnections: number;
}

/** Where a job's gateway listens. */
export interface IGatewayAddress {
  jobId: string;
  node: string;
  port: number;
  /** The job environment's Python, for the relay. */
  python: string;
}

export interface INodeTransportsOptions {
  ssh: SshPool;
  /** Where OpenSSH's client is installed. */
  openssh?: OpenSshForwards;
  srun: SrunRelay;
  mode?: TransportMode;
  /** How long ssh may take in `auto` before the relay is tried; default 10 s. */
  sshTryMs?: number;
  /** How long a node that refused ssh goes straight to srun in `auto`; default 10 min. */
  rememberRefusalMs?: number;
}

/** The transports to try for a gateway, in order, and what the last attempts taught. */
export class NodeTransports {
  constructor(private readonly _o: INodeTransportsOptions) {}

  get mode(): TransportMode {
    return this._o.mode ?? 'auto';
  }

  get sshTryMs(): number {
    return this._o.sshTryMs ?? 10_000;
  }

  get relay(): SrunRelay {
    return this._o.srun;
  }

  /**
   * In order of preference. In `auto` ssh is left out while its node's refusal is fresh, and
   * OpenSSH is offered only where that refusal was one it may overcome.
   */
  candidates(address: IGatewayAddress): INodeTransport[] {
    const ssh: INodeTransport = {
      kind: 'ssh',
      restConnections: 4,
      open: () => this._o.ssh.forward(address.node, '127.0.0.1', address.port)
    };
    const openssh = this._o.openssh;
    const viaOpenSsh: INodeTransport[] = openssh
      ? [
          {
            kind: 'openssh',
            // A process and a handshake per connection: two carry every REST call.
            restConnections: 2,
            open: () => openssh.open(address.node, '127.0.0.1', address.port)
          }
        ]
      : [];
    const srun: INodeTransport = {
      kind: 'srun',
      // Each connection is a step and ~25 MiB between the two hosts: two carry every REST call.
      restConnections: 2,
      open: () => this._o.srun.open(address)
    };
    switch (this.mode) {
      case 'ssh':
        return [ssh];
      case 'openssh':
        return viaOpenSsh;
      case 'srun':
        return [srun];
      default: {
        const refused = this._refusal(address.node);
        if (!refused) {
          return [ssh, ...viaOpenSsh, srun];
        }
        return refused.openSshMayHelp ? [...viaOpenSsh, srun] : [srun];
      }
    }
  }

  /**
   * Whether OpenSSH is worth trying after ssh failed with `err`: a host key ssh2 could not verify
   * or a login it could not make may be OpenSSH's to make; a node that does not answer, or refuses
   * forwarding, refuses OpenSSH the same.
   */
  static openSshMayHelp(err: unknown): boolean {
    return (
      err instanceof TunnelError &&
      (err.kind === 'host-key' || err.kind === 'authentication')
    );
  }

  /** Why ssh to this node failed lately, while that is remembered. */
  sshRefusal(node: string): string | undefined {
    return this._refusal(node)?.why;
  }

  /**
   * ssh to the node failed with `err`, said as `why`: the next allocations there go straight to
   * OpenSSH (where it may help) or the relay.
   */
  sshRefused(node: string, why: string, err?: unknown): void {
    this._refused.set(node, {
      why,
      at: Date.now(),
      openSshMayHelp: NodeTransports.openSshMayHelp(err)
    });
  }

  private _refusal(node: string) {
    const refused = this._refused.get(node);
    if (
      refused &&
      Date.now() - refused.at < (this._o.rememberRefusalMs ?? 10 * 60_000)
    ) {
      return refused;
    }
    this._refused.delete(node);
    return undefined;
  }

  /** Opens the ssh connection to a node ahead of use, where ssh will be tried. */
  warm(node: string): void {
    if (this.mode !== 'srun' && !this.sshRefusal(node)) {
      this._o.ssh.warm(node);
    }
  }

  dispose(): void {
    this._o.ssh.dispose();
    this._o.openssh?.dispose();
    this._o.srun.dispose();
  }

  private _refused = new Map<
    string,
    { why: string; at: number; openSshMayHelp: boolean }
  >();
}
