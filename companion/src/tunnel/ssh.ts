/**
 * One ssh2 connection per host, reused by every tunnel to it: no `ssh` processes, no local TCP
 * listener. Host keys are verified against known_hosts; keys come from ~/.ssh and the ssh-agent.
 * A connection that drops is opened again on next use; after failures, with backoff.
 * Only this module and login/link.ts (a laptop's one connection to a login node) import ssh2.
 */
import { promises as dns } from 'node:dns';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AgentAuthMethod,
  Client,
  ClientChannel,
  PublicKeyAuthMethod,
  utils
} from 'ssh2';
import { Backoff, IBackoffOptions } from './backoff';
import type { IHostConfig } from './hostConfig';
import { defaultKnownHostsFiles, KnownHosts } from './knownHosts';

export class TunnelError extends Error {
  constructor(
    message: string,
    readonly kind: 'host-key' | 'authentication' | 'connect' | 'forward'
  ) {
    super(message);
    this.name = 'TunnelError';
  }
}

export interface ISshPoolOptions {
  username?: string;
  port?: number;
  /** Private key files tried in order; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  keyFiles?: string[];
  /** The known host keys, from the files the host's config names; default read from this host. */
  knownHosts?: (files: string[]) => Promise<KnownHosts>;
  /** Milliseconds to wait for a connection; default 20 s. */
  readyTimeoutMs?: number;
  /**
   * Open a pty session on each connection. sshd sets TCP_NODELAY on its connection only when a
   * pty session exists; without it, replies to small messages stall ~40 ms on delayed ACKs.
   */
  interactive?: boolean;
  /** Delays between attempts to connect to a host that failed. */
  backoff?: IBackoffOptions;
  /** How to reach a host (ssh config, Slurm's NodeAddr); default: the name, port 22, ~/.ssh. */
  hostConfig?: (host: string) => Promise<IHostConfig>;
  /**
   * Where hosts are not reached directly: a stream to `address:port` through another connection
   * (a laptop's one login to the cluster), over which this pool's ssh runs end to end.
   */
  via?: (address: string, port: number) => Promise<Duplex>;
}

interface IPooled {
  client: Client;
  ready: Promise<Client>;
  keepalive?: ClientChannel;
}

/**
 * Connections by host name, opened on first use and reopened after they drop.
 */
export class SshPool {
  constructor(options: ISshPoolOptions = {}) {
    this._options = options;
  }

  /**
   * Opens a stream to `targetHost:targetPort` as seen from `host` (e.g. 127.0.0.1 on a compute node).
   *
   * #### Notes
   * Rejects with a TunnelError: `host-key` when the key is unknown or wrong (never accepted),
   * `authentication`, `connect`, or `forward` when sshd refuses the channel.
   */
  async forward(
    host: string,
    targetHost: string,
    targetPort: number
  ): Promise<Duplex> {
    const client = await this._connected(host);
    return new Promise<Duplex>((resolve, reject) => {
      try {
        client.forwardOut(
          '127.0.0.1',
          0,
          targetHost,
          targetPort,
          (err, channel) => {
            if (err) {
              reject(
                new TunnelError(
                  `${host}: cannot open a tunnel to ${targetHost}:${targetPort}: ${err.message}`,
                  'forward'
                )
              );
            } else {
              this._track(client, channel);
              resolve(channel);
            }
          }
        );
      } catch (err) {
        // forwardOut throws synchronously when the connection closed in the meantime.
        this._drop(host);
        reject(
          new TunnelError(
            `${host}: connection lost: ${(err as Error).message}`,
            'connect'
          )
        );
      }
    });
  }

  /** Opens the connection to a host ahead of use; failures surface on the first forward(). */
  warm(host: string): void {
    this._connected(host).catch(() => undefined);
  }

  /** Closes every connection. */
  dispose(): void {
    for (const host of [...this._pool.keys()]) {
      this._drop(host);
    }
  }

  private _connected(host: string): Promise<Client> {
    let pooled = this._pool.get(host);
    if (!pooled) {
      const client = new Client();
      pooled = { client, ready: this._connectAfterBackoff(host, client) };
      this._pool.set(host, pooled);
      const entry = pooled;
      entry.ready.catch(
        () => this._pool.get(host) === entry && this._pool.delete(host)
      );
      client.on(
        'close',
        () => this._pool.get(host) === entry && this._pool.delete(host)
      );
    }
    return pooled.ready;
  }

  /** Connects, first waiting out the backoff of earlier failures to this host. */
  private async _connectAfterBackoff(
    host: string,
    client: Client
  ): Promise<Client> {
    const retry = this._retries.get(host);
    const wait = retry ? retry.at - Date.now() : 0;
    // Always yields, also with nothing to wait for: _connected() puts this attempt in the pool only
    // once this function has returned its promise, and dropped() must not look before that.
    await sleep(Math.max(0, wait));
    const dropped = () => this._pool.get(host)?.client !== client;
    try {
      if (dropped()) {
        throw new TunnelError(`${host}: the connection was closed`, 'connect');
      }
      const connected = await this._connect(host, client);
      if (dropped()) {
        client.end();
        throw new TunnelError(`${host}: the connection was closed`, 'connect');
      }
      this._retries.delete(host);
      return connected;
    } catch (err) {
      const failed = retry ?? {
        backoff: new Backoff(this._options.backoff),
        at: 0
      };
      failed.at = Date.now() + failed.backoff.fail();
      this._retries.set(host, failed);
      throw err;
    }
  }

  private async _connect(host: string, client: Client): Promise<Client> {
    const config = await (this._options.hostConfig ?? Private.plainConfig)(
      host
    );
    const knownHosts = await (
      this._options.knownHosts ?? (files => KnownHosts.load(files))
    )(config.knownHostsFiles);
    const port = this._options.port ?? config.port;
    // With a HostKeyAlias, OpenSSH looks the key up under that name alone.
    const names =
      config.knownAs.length === 1 && config.knownAs[0] !== host
        ? config.knownAs
        : [...config.knownAs, ...(await Private.addresses(config.hostname))];
    const username = this._options.username ?? config.user;
    const authHandler = config.publicKeys
      ? await Private.authHandler(
          username,
          this._options.keyFiles ?? config.identityFiles
        )
      : [];
    let hostKeyProblem: string | null = null;
    const sock = await this._options
      .via?.(config.hostname, port)
      .catch((err: Error) => {
        throw new TunnelError(
          `${host} (${config.hostname}, port ${port}): cannot reach its sshd: ${err.message}`,
          'connect'
        );
      });
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (err: Error & { level?: string }) => {
        if (hostKeyProblem) {
          reject(
            new TunnelError(
              `${host}: ${hostKeyProblem} (known_hosts files: ${config.knownHostsFiles.join(', ')})`,
              'host-key'
            )
          );
        } else if (err.level === 'client-authentication') {
          reject(
            new TunnelError(
              `${host}: ssh authentication failed (${Private.triedLogins(config)})`,
              'authentication'
            )
          );
        } else {
          const where =
            config.hostname === host && port === 22
              ? ''
              : ` (${config.hostname}, port ${port})`;
          reject(
            new TunnelError(
              `${host}${where}: cannot connect with ssh: ${err.message}`,
              'connect'
            )
          );
        }
      });
      client.connect({
        host: config.hostname,
        port,
        sock,
        username,
        authHandler,
        readyTimeout: this._options.readyTimeoutMs ?? 20_000,
        // AES-GCM first: with AES-NI it costs the least CPU per byte of kernel output.
        algorithms: {
          cipher: [
            'aes128-gcm@openssh.com',
            'aes256-gcm@openssh.com',
            'chacha20-poly1305@openssh.com',
            'aes128-ctr',
            'aes256-ctr'
          ]
        },
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
        hostVerifier: (key: Buffer) => {
          const verdict = knownHosts.verify(names, port, key);
          hostKeyProblem = verdict.ok ? null : verdict.reason;
          return verdict.ok;
        }
      });
    });
    client.setNoDelay(true);
    if (this._options.interactive ?? true) {
      await this._openPtySession(host, client);
    }
    return client;
  }

  private _openPtySession(host: string, client: Client): Promise<void> {
    return new Promise(resolve => {
      // `cat` with a pty waits on its input until the channel closes; it does nothing else.
      client.exec('cat', { pty: { term: 'dumb' } }, (err, channel) => {
        if (!err) {
          const pooled = this._pool.get(host);
          if (pooled) {
            pooled.keepalive = channel;
          }
          channel.on('data', () => undefined);
        }
        resolve(); // without it, tunnels still work, only slower on small messages
      });
    });
  }

  /**
   * A channel of a connection that died ends unread: a kept-alive HTTP connection on it would
   * never hear it. Destroyed with its connection, it closes for whoever holds it.
   */
  private _track(client: Client, channel: ClientChannel): void {
    let channels = this._channels.get(client);
    if (!channels) {
      const tracked = new Set<ClientChannel>();
      channels = tracked;
      this._channels.set(client, tracked);
      client.once('close', () => {
        this._channels.delete(client);
        tracked.forEach(c => c.destroy());
      });
    }
    channels.add(channel);
    channel.once('close', () => channels?.delete(channel));
  }

  private _drop(host: string): void {
    const pooled = this._pool.get(host);
    this._pool.delete(host);
    pooled?.keepalive?.close();
    pooled?.client.end();
  }

  private _options: ISshPoolOptions;
  private _pool = new Map<string, IPooled>();
  private _channels = new WeakMap<Client, Set<ClientChannel>>();
  /** Hosts whose last connection attempt failed: when the next one may start. */
  private _retries = new Map<string, { backoff: Backoff; at: number }>();
}

namespace Private {
  export async function addresses(host: string): Promise<string[]> {
    try {
      return (await dns.lookup(host, { all: true }))
        .map(a => a.address)
        .filter(a => a !== host);
    } catch {
      return [];
    }
  }

  /** A host reached by its name on port 22, with ~/.ssh's keys and the usual known_hosts. */
  export async function plainConfig(host: string): Promise<IHostConfig> {
    return {
      hostname: host,
      port: 22,
      user: os.userInfo().username,
      identityFiles: ['id_ed25519', 'id_ecdsa', 'id_rsa'].map(f =>
        path.join(os.homedir(), '.ssh', f)
      ),
      publicKeys: true,
      knownHostsFiles: defaultKnownHostsFiles(),
      knownAs: [host],
      proxyJump: [],
      unsupported: []
    };
  }

  /**
   * What the companion tried, and what the user's ssh config logs in with that it cannot: the
   * user learns why their own `ssh node` works.
   */
  export function triedLogins(config: IHostConfig): string {
    const tried = config.publicKeys
      ? 'keys in ~/.ssh or ssh-agent'
      : 'no keys: the ssh config sets PubkeyAuthentication no';
    return config.unsupported.length
      ? `${tried}; the ssh config also logs in with ${config.unsupported.join(' and ')}, which the companion's ssh cannot use`
      : tried;
  }

  /**
   * Public keys from ~/.ssh (unencrypted ones; encrypted keys belong in the agent), then the agent.
   */
  export async function authHandler(
    username: string,
    files: string[]
  ): Promise<Array<PublicKeyAuthMethod | AgentAuthMethod>> {
    const methods: Array<PublicKeyAuthMethod | AgentAuthMethod> = [];
    for (const file of files) {
      let text: Buffer;
      try {
        text = await fs.readFile(file);
      } catch {
        continue;
      }
      const parsed = utils.parseKey(text);
      if (!(parsed instanceof Error)) {
        methods.push({ type: 'publickey', username, key: text });
      }
    }
    if (process.env.SSH_AUTH_SOCK) {
      methods.push({
        type: 'agent',
        username,
        agent: process.env.SSH_AUTH_SOCK
      });
    }
    return methods;
  }
}
