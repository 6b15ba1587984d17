/**
 * The way to a job's gateway through the user's own OpenSSH client, for nodes the companion's ssh
 * (ssh2) cannot log in to or verify although `ssh node` works: host keys vouched for by a
 * @cert-authority line (ssh2 cannot negotiate host certificates), hostbased authentication
 * (OpenSSH's setuid ssh-keysign signs with the login node's host key, which no user can read),
 * OpenSSH user certificates, Kerberos. Each stream is one `ssh -W 127.0.0.1:PORT node`: OpenSSH
 * evaluates the config, verifies the host and logs in exactly as it does for the user.
 *
 * One process and one handshake per stream; streams are long-lived (a kernel's websocket, the
 * REST keep-alive connections), so that costs little. No ControlMaster: a master would outlive
 * the companion.
 */
import type { Duplex } from 'node:stream';
import { RunningStreams, type IStreamRunner } from '../slurm/runner';
import type { IHostConfig } from './hostConfig';
import { TunnelError } from './ssh';

export interface IOpenSshOptions {
  /** Starts `ssh` (locally). */
  runner: IStreamRunner;
  /** Where the node is (Slurm's NodeAddr where the config names no HostName). */
  hostConfig: (host: string) => Promise<IHostConfig>;
  /** An ssh config file to read instead of ~/.ssh/config (SLURM_KERNELS_SSH_CONFIG). */
  configFile?: string;
}

export class OpenSshForwards {
  constructor(private readonly _o: IOpenSshOptions) {}

  /** A stream to `host:port` as seen from `node`, or a TunnelError with OpenSSH's own words. */
  async open(node: string, host: string, port: number): Promise<Duplex> {
    const config = await this._o.hostConfig(node);
    const command = this._o.runner.stream(
      forwardArgv(node, config.hostname, host, port, this._o.configFile),
      {
        failedStart: ({ code, signal, stderr }) =>
          code === 0 ? undefined : openSshError(node, stderr, code ?? signal)
      }
    );
    return this._open.add(command);
  }

  /** Ends every stream it opened. */
  dispose(): void {
    this._open.stopAll();
  }

  private _open = new RunningStreams();
}

/**
 * `ssh -W`: never a prompt (BatchMode: no one answers one), a dead link noticed in 45 s as
 * ssh2's keepalive does, and the address the companion's ssh would use where the config names
 * none (OpenSSH looks the host key up under that name, as it does for the user).
 */
export function forwardArgv(
  node: string,
  address: string,
  host: string,
  port: number,
  configFile?: string
): string[] {
  return [
    'ssh',
    ...(configFile ? ['-F', configFile] : []),
    '-T',
    '-o',
    'BatchMode=yes',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'ConnectTimeout=10',
    ...(address !== node ? ['-o', `HostName=${address}`] : []),
    '-W',
    `${host}:${port}`,
    '--',
    node
  ];
}

/** OpenSSH's reason, sorted as the companion's ssh sorts its own (host key, login, forward). */
export function openSshError(
  node: string,
  stderr: string,
  exit: number | string | null
): TunnelError {
  const said = stderr
    .split('\n')
    .map(line => line.trim())
    .filter(line => line && !line.startsWith('Warning: Permanently added'))
    .slice(-3)
    .join(' ');
  const kind =
    /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* (is )?not (trusted|known)/i.test(
      said
    )
      ? 'host-key'
      : /permission denied/i.test(said)
        ? 'authentication'
        : /open failed|stdio forwarding failed|administratively prohibited/i.test(
              said
            )
          ? 'forward'
          : 'connect';
  return new TunnelError(
    `${node}: OpenSSH's ssh failed: ${said || `it exited ${exit}`}`,
    kind
  );
}
