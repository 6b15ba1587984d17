/**
 * The one ssh2 connection from the lab's machine (a laptop) to a cluster's login node: Slurm
 * commands go over exec, files over one SFTP session, and streams to the compute nodes over
 * direct-tcpip forwards, so the person is asked for a one-time code once per connection, never
 * per command or kernel (ControlMaster's role, without an `ssh` process that outlives us).
 *
 * - Reached as the user's OpenSSH would (`ssh -G`: HostName, Port, User, IdentityFile, Include,
 *   Match, ProxyJump, ProxyCommand), keys from those files and the ssh-agent (their OpenSSH
 *   certificates first, login/certificates.ts), then keyboard-interactive. Each ProxyJump hop is
 *   a login of its own (its host key checked, its questions asked), and the next one runs over a
 *   stream the hop opens: no `ssh` process, as OpenSSH's `-J` does it. A ProxyCommand runs as
 *   OpenSSH runs it, for as long as the connection (login/proxyCommand.ts).
 * - A host key no known_hosts file lists is shown to the person (SHA256 fingerprint) and saved to
 *   their known_hosts once accepted; a changed or revoked key is refused, never asked about.
 * - No timer runs while a person is asked (a code typed, a push approved on a phone): ssh2's
 *   readyTimeout would cut them off, so the only deadline is for the server to answer at all.
 * - sshd caps session channels per connection (MaxSessions, 10 by default), not forwards: execs
 *   wait for a slot beyond `maxSessions`.
 * - A connection that was up and dropped (a laptop asleep, a network change) is rebuilt by itself,
 *   with backoff, asking the person again once where the login needs them. Meanwhile every use
 *   fails at once with why the cluster is unreachable, rather than queueing behind a login that
 *   may wait hours for its code: the callers (Slurm's polls, the kernels' reconnects) retry.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import {
  AnyAuthMethod,
  AuthenticationType,
  Client,
  ClientChannel,
  NextAuthHandler,
  SFTPWrapper,
  utils
} from 'ssh2';
import type { ICommandResult, IRunOptions } from '../slurm/runner';
import type { IHostConfig } from '../tunnel/hostConfig';
import { Backoff, IBackoffOptions } from '../tunnel/backoff';
import { KnownHosts, knownHostsName } from '../tunnel/knownHosts';
import {
  allowCertificates,
  certificateKey,
  certifiedKeyType,
  certifies
} from './certificates';
import { CertificateAgent } from './certificateAgent';
import { hostKeyDecisions } from './hostKeyDecisions';
import { proxyCommandStream } from './proxyCommand';
import { Slots } from './slots';

/**
 * Why SFTP did not start, said so that the person can act on it. A shell startup file that prints
 * for non-interactive logins (an `echo` in ~/.bashrc, a banner on stdout) puts its text where
 * SFTP's first packet belongs, and ssh2 reads the text's first 4 bytes as a packet length.
 */
export function sftpFailure(message: string): string {
  const length = /Packet length (\d+) exceeds/.exec(message)?.[1];
  if (!length) {
    return `no SFTP on the login node: ${message}`;
  }
  const head = Buffer.alloc(4);
  head.writeUInt32BE(Number(length));
  const text = head.toString('latin1');
  const shown = /^[\x20-\x7e]{4}$/.test(text) ? ` "${text}…"` : ' something';
  return (
    `no SFTP on the login node: your login shell there printed${shown} before SFTP could start. ` +
    'A shell startup file (~/.bashrc, ~/.cshrc, ~/.zshenv) prints for non-interactive logins: ' +
    'let it print only in interactive shells (in ~/.bashrc, put [[ $- == *i* ]] || return above ' +
    "the output). OpenSSH's sftp and scp fail the same way."
  );
}

/** A host key to decide on: the user sees this and says whether it is the login node's. */
export interface INewHostKey {
  /** The name the user gave (a ~/.ssh/config alias, or user@host). */
  cluster: string;
  host: string;
  port: number;
  keyType: string;
  /** As OpenSSH prints it: "SHA256:" and the unpadded base64 of the key's SHA-256. */
  fingerprint: string;
}

/** One keyboard-interactive round, as the server sent it. */
export interface IPromptRound {
  cluster: string;
  name: string;
  instructions: string;
  prompts: Array<{ prompt: string; echo: boolean }>;
}

/**
 * The person behind the lab: asked only what a login needs, once per connection. `signal` is
 * aborted when the login ended meanwhile (the server gave up waiting): the question is moot.
 */
export interface ILoginPrompts {
  /** Whether to trust, and save, a host key no known_hosts file lists. */
  trustNewHostKey(key: INewHostKey, signal?: AbortSignal): Promise<boolean>;
  /** The answers to one round, in order; null when the person gives up. */
  answer(round: IPromptRound, signal?: AbortSignal): Promise<string[] | null>;
}

export type LinkState = 'down' | 'connecting' | 'asking' | 'up';

export class LoginError extends Error {
  constructor(
    message: string,
    readonly kind:
      'host-key' | 'authentication' | 'connect' | 'cancelled' | 'down'
  ) {
    super(message);
    this.name = 'LoginError';
  }
}

export interface ILoginLinkOptions {
  /** What the user named the cluster by: an ssh config alias, or [user@]host. */
  cluster: string;
  /** How OpenSSH would reach it (hostConfig(), with the user's ssh config). */
  hostConfig: () => Promise<IHostConfig>;
  /** How OpenSSH would reach a ProxyJump hop of that config (jumpHostConfig()). */
  jumpHostConfig?: (hop: string) => Promise<IHostConfig>;
  prompts: ILoginPrompts;
  /** Where an accepted host key is saved; default the first known_hosts file of the config. */
  saveHostKeysTo?: string;
  /** Until the server has said hello (TCP + key exchange); default 20 s. Never while asking. */
  connectTimeoutMs?: number;
  /** Session channels (exec, the SFTP session) at once; default 8, under sshd's MaxSessions 10. */
  maxSessions?: number;
  /** The ssh-agent's socket; default SSH_AUTH_SOCK. */
  agent?: string;
  /** Delays between attempts to rebuild a dropped connection; default 1 s doubling up to 30 s. */
  reconnect?: IBackoffOptions;
  /** Keepalive probes (ms apart, unanswered before the link counts as lost); default 10 s, 3. */
  keepalive?: { intervalMs: number; countMax: number };
}

export class LoginLink {
  constructor(private readonly _o: ILoginLinkOptions) {
    this._slots = new Slots(_o.maxSessions ?? 8);
    this._backoff = new Backoff({ initialMs: 1000, ..._o.reconnect });
  }

  get state(): LinkState {
    return this._state;
  }

  /** Called on every change of state (the lab shows "cluster unreachable" while down). */
  onState(listener: (state: LinkState) => void): void {
    this._listeners.push(listener);
  }

  /** Why the cluster cannot be reached now (a dropped link being rebuilt), else null. */
  get unreachable(): string | null {
    if (this._state === 'up' || !this._rebuilding) {
      return null;
    }
    return this._state === 'asking'
      ? `${this._o.cluster}: the connection was lost; logging in again waits on you (the login dialog in the lab)`
      : `${this._o.cluster}: the connection to the login node was lost (${this._lastFailure}); connecting again`;
  }

  /** Connects, unless connected or connecting: one login, however many callers wait. */
  connect(): Promise<Client> {
    this._connecting ??= this._open().finally(() => {
      this._connecting = undefined;
    });
    return this._connecting;
  }

  /**
   * Runs `command` (a string the login shell parses: see remoteCommand) and collects its output;
   * rejects only where it could not run or timed out, as LocalRunner does.
   */
  async exec(
    command: string,
    options: IRunOptions = {}
  ): Promise<ICommandResult> {
    const client = await this._usable();
    return this._slots.run(() =>
      Private.sessionRetried(() => Private.exec(client, command, options))
    );
  }

  /**
   * Starts `command` with its stdio as a stream (an srun relay step): the channel, once sshd
   * opened it, and a session slot held until it closes.
   */
  async execStream(command: string): Promise<ClientChannel> {
    const client = await this._usable();
    return Private.sessionRetried(() => this._execStream(client, command));
  }

  private async _execStream(
    client: Client,
    command: string
  ): Promise<ClientChannel> {
    const release = await this._slots.hold();
    return new Promise((resolve, reject) => {
      const started = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          release();
          reject(
            new LoginError(
              `the login node refused a command: ${err.message}`,
              'down'
            )
          );
          return;
        }
        channel.once('close', release);
        resolve(channel);
      };
      try {
        client.exec(command, started);
      } catch (err) {
        release();
        reject(
          new LoginError(
            `the login node is not connected: ${(err as Error).message}`,
            'down'
          )
        );
      }
    });
  }

  /** A stream to `host:port` as the login node sees it (a compute node's sshd, a gateway). */
  async forward(host: string, port: number): Promise<Duplex> {
    const client = await this._usable();
    return new Promise((resolve, reject) =>
      client.forwardOut('127.0.0.1', 0, host, port, (err, channel) =>
        err
          ? reject(
              new LoginError(
                `the login node cannot open a stream to ${host}:${port}: ${err.message}`,
                'connect'
              )
            )
          : resolve(channel)
      )
    );
  }

  /** The connection's one SFTP session (it holds a session slot while it lives). */
  async sftp(): Promise<SFTPWrapper> {
    const client = await this._usable();
    this._sftp ??= this._slots.hold().then(
      release =>
        new Promise<SFTPWrapper>((resolve, reject) =>
          client.sftp((err, sftp) => {
            if (err) {
              release();
              this._sftp = undefined;
              reject(new LoginError(sftpFailure(err.message), 'connect'));
              return;
            }
            sftp.once('close', () => {
              release();
              this._sftp = undefined;
            });
            resolve(sftp);
          })
        )
    );
    return this._sftp;
  }

  /** Ends the connection for good: not rebuilt; the next use opens a new one (and asks again). */
  close(): void {
    this._closed = true;
    clearTimeout(this._rebuildTimer);
    this._rebuilding = false;
    this._client?.end();
    this._jumps.forEach(jump => jump.end());
  }

  /** The connection for a use: at once while it is rebuilt after a drop, the reason it is not. */
  private _usable(): Promise<Client> {
    const why = this.unreachable;
    if (why) {
      return Promise.reject(new LoginError(why, 'down'));
    }
    return this.connect();
  }

  /**
   * Rebuilds a dropped connection: again and again, waiting longer each time, while the login
   * node cannot be reached; it stops where the login itself failed (refused, cancelled, a changed
   * host key): the next use tries again, as after any failed login.
   */
  private _rebuild(): void {
    if (this._closed) {
      return;
    }
    this._rebuilding = true;
    const delay = this._backoff.fail();
    this._rebuildTimer = setTimeout(() => {
      this.connect().then(
        () => {
          this._rebuilding = false;
          this._backoff.succeed();
        },
        (err: Error) => {
          this._lastFailure = err.message;
          if (err instanceof LoginError && err.kind === 'connect') {
            this._rebuild();
          } else {
            this._rebuilding = false;
            this._backoff.succeed();
          }
        }
      );
    }, delay);
    this._rebuildTimer.unref?.();
  }

  private async _open(): Promise<Client> {
    if (this._client && this._state === 'up') {
      return this._client;
    }
    this._closed = false;
    this._setState('connecting');
    let client: Client;
    let jumps: Client[];
    try {
      [client, ...jumps] = (await this._loginThroughHops()).reverse();
    } catch (err) {
      this._setState('down');
      throw err;
    }
    client.setNoDelay(true);
    this._client = client;
    this._jumps = jumps;
    // A hop that drops takes the login with it.
    jumps.forEach(jump => {
      jump.on('error', () => undefined);
      jump.once('close', () => client.end());
    });
    client.once('close', () => {
      jumps.forEach(jump => jump.end());
      if (this._client === client) {
        this._client = undefined;
        this._jumps = [];
        this._sftp = undefined;
        this._lastFailure ??= 'the login node closed it';
        this._setState('down');
        this._rebuild();
      }
    });
    // A late error (a keepalive unanswered) ends in 'close'.
    client.on('error', (err: Error) => {
      this._lastFailure = err.message;
    });
    this._lastFailure = undefined;
    this._setState('up');
    return client;
  }

  /**
   * Logs in to each ProxyJump hop in order, then to the login node through the last; returns
   * the logged-in clients in that order (the login node's last). Ends them all where one fails.
   */
  private async _loginThroughHops(): Promise<Client[]> {
    const config = await this._o.hostConfig();
    const hops = await Promise.all(
      config.proxyJump.map(hop => {
        if (!this._o.jumpHostConfig) {
          throw new LoginError(
            `${this._o.cluster}: ProxyJump ${hop} is not supported here`,
            'connect'
          );
        }
        return this._o.jumpHostConfig(hop);
      })
    );
    const chain = [...hops, config];
    const clients: Client[] = [];
    try {
      let through: Duplex | undefined;
      for (const [i, step] of chain.entries()) {
        const client = new Client();
        clients.push(client);
        const knownHosts = await KnownHosts.load(step.knownHostsFiles);
        // The first host through its ProxyCommand where it has one (hops have none: hostConfig).
        through ??= step.proxyCommand
          ? proxyCommandStream(step.proxyCommand)
          : undefined;
        await this._login(client, step, knownHosts, through);
        const next = chain[i + 1];
        if (next) {
          through = await Private.forwardOut(client, next, this._o.cluster);
        }
      }
      return clients;
    } catch (err) {
      clients.reverse().forEach(client => client.end());
      throw err;
    }
  }

  /**
   * One login: to `config`'s host, or over `through` (a stream a ProxyJump hop opened to it, or
   * its ProxyCommand's stdio; ending the client ends that proxy).
   */
  private _login(
    client: Client,
    config: IHostConfig,
    knownHosts: KnownHosts,
    through?: Duplex
  ): Promise<void> {
    const cluster = this._o.cluster;
    const names = config.knownAs;
    // Questions still open when the login ends (either way) are withdrawn.
    const asking = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let refused: LoginError | null = null;
      const fail = (err: LoginError) => {
        refused ??= err;
        clearTimeout(timer);
        reject(refused);
      };
      const timeoutMs = this._o.connectTimeoutMs ?? 20_000;
      const timer = setTimeout(
        () =>
          fail(
            new LoginError(
              `${cluster}: ${config.hostname}:${config.port} did not answer within ${timeoutMs / 1000} s`,
              'connect'
            )
          ),
        timeoutMs
      );
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('close', () =>
        fail(
          new LoginError(
            `${cluster}: the login node closed the connection during the login`,
            'connect'
          )
        )
      );
      // Every error, not just the first: ssh2 can emit several (a ProxyCommand that died, then
      // "Connection lost before handshake"); the first says why.
      client.on('error', (err: Error & { level?: string }) => {
        if (refused) {
          reject(refused);
        } else if (err.level === 'client-authentication') {
          fail(
            new LoginError(
              `${cluster}: the login node refused the login as ${config.user} (${err.message})`,
              'authentication'
            )
          );
        } else {
          fail(
            new LoginError(
              `${cluster}: cannot connect to ${config.hostname}:${config.port}: ${err.message}`,
              'connect'
            )
          );
        }
      });
      client.connect({
        host: config.hostname,
        port: config.port,
        sock: through,
        username: config.user,
        // Only our own timer, and not while a person is asked (see the module's comment).
        readyTimeout: 0,
        keepaliveInterval: this._o.keepalive?.intervalMs ?? 10_000,
        keepaliveCountMax: this._o.keepalive?.countMax ?? 3,
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          clearTimeout(timer); // the server answered: the rest may wait on a person
          this._verifyHostKey(
            config,
            knownHosts,
            names,
            key,
            asking.signal
          ).then(
            () => asking.signal.aborted || verify(true),
            (err: LoginError) => {
              refused = err;
              // A login that ended while the person was asked has nothing to answer any more.
              if (!asking.signal.aborted) {
                verify(false);
              }
            }
          );
        },
        authHandler: this._authHandler(
          client,
          config,
          err => {
            refused = err;
          },
          asking.signal
        )
      });
      // In the same tick, before any byte: certificate keys need our own publickey request.
      try {
        allowCertificates(client);
      } catch {
        // an ssh2 this was not written for: a certificate is refused, and plain keys work
      }
    }).finally(() => asking.abort());
  }

  private async _verifyHostKey(
    config: IHostConfig,
    knownHosts: KnownHosts,
    names: string[],
    key: Buffer,
    signal: AbortSignal
  ): Promise<void> {
    let verdict = knownHosts.verify(names, config.port, key);
    if (!verdict.ok && verdict.refusal === 'unknown') {
      // Another login of the lab may have saved it since this one read known_hosts.
      verdict = (await KnownHosts.load(config.knownHostsFiles)).verify(
        names,
        config.port,
        key
      );
    }
    if (verdict.ok) {
      return;
    }
    if (verdict.refusal !== 'unknown') {
      throw new LoginError(
        `${this._o.cluster}: REFUSED: ${verdict.reason}. Nothing was sent to it. If the admins announced a new key, remove the old line from known_hosts (ssh-keygen -R ${knownHostsName(names[0], config.port)}) and connect again.`,
        'host-key'
      );
    }
    const hostKey: INewHostKey = {
      cluster: this._o.cluster,
      host: names[0],
      port: config.port,
      keyType: Private.keyType(key),
      fingerprint: hostKeyFingerprint(key)
    };
    // As OpenSSH saves it: under the HostKeyAlias, else the address connected to.
    const savedAs = names.length === 1 ? names[0] : config.hostname;
    const saveTo = this._o.saveHostKeysTo ?? config.knownHostsFiles[0];
    const name = knownHostsName(savedAs, config.port);
    this._setState('asking');
    // Asked once where other logins of the lab meet the same key at once; saved by the one asking.
    const decided = await hostKeyDecisions.decide(
      `${saveTo}\n${name}\n${hostKey.fingerprint}`,
      async () => {
        const trusted = await this._o.prompts.trustNewHostKey(hostKey, signal);
        if (signal.aborted) {
          return 'withdrawn';
        }
        if (trusted) {
          await Private.saveHostKey(saveTo, name, hostKey.keyType, key);
        }
        return trusted ? 'trusted' : 'refused';
      },
      signal
    );
    this._setState('connecting');
    if (decided !== 'trusted') {
      throw new LoginError(
        `${this._o.cluster}: the host key ${hostKey.fingerprint} was not accepted`,
        'cancelled'
      );
    }
  }

  /**
   * Keys (files, then the agent), then keyboard-interactive, each only where the server still
   * takes it; a method fails once and is not tried again, so a wrong code is not asked for in a
   * loop.
   */
  private _authHandler(
    client: Client,
    config: IHostConfig,
    onCancel: (err: LoginError) => void,
    signal: AbortSignal
  ) {
    const username = config.user;
    const codes: AnyAuthMethod = {
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (prompts.length === 0) {
          finish([]); // an information round (PAM's messages): nothing to answer
          return;
        }
        this._setState('asking');
        void this._o.prompts
          .answer(
            {
              cluster: this._o.cluster,
              name,
              instructions,
              prompts: prompts.map(p => ({
                prompt: p.prompt,
                echo: p.echo ?? false
              }))
            },
            signal
          )
          .then(answers => {
            if (signal.aborted) {
              return; // the login ended meanwhile (the server's LoginGraceTime)
            }
            this._setState('connecting');
            if (answers) {
              finish(answers);
            } else {
              onCancel(
                new LoginError(
                  `${this._o.cluster}: the login was cancelled`,
                  'cancelled'
                )
              );
              client.end();
            }
          });
      }
    };
    const methods = Private.keyMethods(config, username, this._o.agent).then(
      keys => [...keys, codes]
    );
    let next = 0;
    return (
      methodsLeft: AuthenticationType[] | null,
      _partialSuccess: boolean | null,
      callback: NextAuthHandler
    ) => {
      void methods.then(ordered => {
        while (next < ordered.length) {
          const method = ordered[next++];
          const type = method.type === 'agent' ? 'publickey' : method.type;
          if (!methodsLeft || methodsLeft.includes(type)) {
            callback(method);
            return;
          }
        }
        // ssh2 takes false for "no method left" (its types do not say so).
        callback(false as unknown as AuthenticationType);
      });
    };
  }

  private _setState(state: LinkState): void {
    if (state !== this._state) {
      this._state = state;
      this._listeners.forEach(listener => listener(state));
    }
  }

  private _state: LinkState = 'down';
  private _listeners: Array<(state: LinkState) => void> = [];
  private _client?: Client;
  /** The ProxyJump hops' logins the connection runs through, in order. */
  private _jumps: Client[] = [];
  private _connecting?: Promise<Client>;
  private _sftp?: Promise<SFTPWrapper>;
  private readonly _slots: Slots;
  private readonly _backoff: Backoff;
  /** A dropped connection is being rebuilt (see _rebuild). */
  private _rebuilding = false;
  private _rebuildTimer?: NodeJS.Timeout;
  /** close() was called: a drop is not rebuilt. */
  private _closed = false;
  private _lastFailure?: string;
}

/** OpenSSH's fingerprint of a host key blob: "SHA256:" + unpadded base64. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

namespace Private {
  /**
   * Runs `open` again while sshd refuses the session channel: a channel this side saw close may
   * still count against MaxSessions there for a moment, so a burst of short commands meets a
   * refusal now and then. A few tries, each a little later; then the refusal stands.
   */
  export async function sessionRetried<T>(open: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await open();
      } catch (err) {
        if (
          attempt >= 8 ||
          !/Channel open failure/.test((err as Error).message)
        ) {
          throw err;
        }
        await new Promise(resolve =>
          setTimeout(resolve, Math.min(500, 25 * 2 ** attempt))
        );
      }
    }
  }

  /** A stream from a logged-in hop to the next host of a ProxyJump chain. */
  export function forwardOut(
    hop: Client,
    next: IHostConfig,
    cluster: string
  ): Promise<Duplex> {
    return new Promise((resolve, reject) =>
      hop.forwardOut(
        '127.0.0.1',
        0,
        next.hostname,
        next.port,
        (err, channel) =>
          err
            ? reject(
                new LoginError(
                  `${cluster}: the jump host cannot reach ${next.hostname}:${next.port}: ${err.message}`,
                  'connect'
                )
              )
            : resolve(channel)
      )
    );
  }

  /** The key type named at the start of an SSH key blob (a length-prefixed string). */
  export function keyType(key: Buffer): string {
    const length = key.readUInt32BE(0);
    return key.subarray(4, 4 + length).toString('latin1');
  }

  export async function saveHostKey(
    file: string,
    name: string,
    keyType: string,
    key: Buffer
  ): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fs.appendFile(
      file,
      `${name} ${keyType} ${key.toString('base64')}\n`,
      {
        mode: 0o600
      }
    );
  }

  export async function keyMethods(
    config: IHostConfig,
    username: string,
    agent = process.env.SSH_AUTH_SOCK
  ): Promise<AnyAuthMethod[]> {
    if (!config.publicKeys) {
      return [];
    }
    const methods: AnyAuthMethod[] = [];
    for (const file of config.identityFiles) {
      const text = await fs.readFile(file).catch(() => undefined);
      const parsed = text && utils.parseKey(text);
      // Keys with a passphrase belong in the agent.
      if (!text || !parsed || parsed instanceof Error) {
        continue;
      }
      // As OpenSSH: the key's certificates first (CertificateFile, and its own -cert.pub).
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      for (const cert of [
        ...new Set([...(config.certificateFiles ?? []), `${file}-cert.pub`])
      ]) {
        const certText = await fs.readFile(cert, 'utf8').catch(() => undefined);
        if (
          certText &&
          certifiedKeyType(certText) === key.type &&
          certifies(certText, key.getPublicSSH())
        ) {
          methods.push({
            type: 'publickey',
            username,
            key: certificateKey(text, certText)
          });
        }
      }
      methods.push({ type: 'publickey', username, key: text });
    }
    // The agent's certificates too, which ssh2's own agent client drops.
    if (agent) {
      methods.push({
        type: 'agent',
        username,
        agent: new CertificateAgent(agent)
      });
    }
    return methods;
  }

  export function exec(
    client: Client,
    command: string,
    options: IRunOptions
  ): Promise<ICommandResult> {
    return new Promise((resolve, reject) => {
      const started = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          reject(
            new LoginError(
              `the login node refused a command: ${err.message}`,
              'down'
            )
          );
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let size = 0;
        const keep = (into: Buffer[]) => (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_OUTPUT_BYTES) {
            into.push(chunk);
          }
        };
        let code: number | null = null;
        let signal: NodeJS.Signals | null = null;
        let failure: Error | null = null;
        const stop = (why: string) => {
          failure ??= new LoginError(`the command ${why}`, 'down');
          channel.close();
        };
        const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        const timer = setTimeout(
          () => stop(`timed out after ${timeoutMs} ms`),
          timeoutMs
        );
        const onAbort = () => stop('was aborted');
        options.signal?.addEventListener('abort', onAbort, { once: true });
        channel.on('data', keep(stdout));
        channel.stderr.on('data', keep(stderr));
        channel.on('exit', (exitCode: number | null, exitSignal?: string) => {
          code = exitCode ?? null;
          signal = exitSignal ? (`SIG${exitSignal}` as NodeJS.Signals) : null;
        });
        channel.on('close', () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          if (failure) {
            reject(failure);
          } else {
            resolve({
              code,
              signal,
              stdout: Buffer.concat(stdout).toString('utf8'),
              stderr: Buffer.concat(stderr).toString('utf8')
            });
          }
        });
        channel.end(options.input ?? '');
      };
      try {
        client.exec(command, started);
      } catch (err) {
        // The connection ended between connect() and here.
        reject(
          new LoginError(
            `the login node is not connected: ${(err as Error).message}`,
            'down'
          )
        );
      }
    });
  }
}
