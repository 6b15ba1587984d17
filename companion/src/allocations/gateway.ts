/**
 * The gateway side of allocations: reach each job's gateway through the tunnel, publish its
 * kernelspecs, and run a bridge for every kernel Jupyter Server starts from them.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fs, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Allocation,
  KernelspecRef,
  Transport
} from '../../../src/api/allocation';
import { IBridgeEnd, IConnectionInfo, KernelBridge } from '../bridge/bridge';
import { GatewayClient, GatewayError, IRemoteKernel } from '../gateway/client';
import type { IJobFiles } from '../gateway/jobScript';
import {
  gresLabel,
  IRemoteSpecToPublish,
  KernelspecWriter,
  METADATA_KEY
} from '../kernelspecs/writer';
import {
  IStateFileSystem,
  localFileSystem,
  readJson
} from '../state/fileSystem';
import { Backoff } from '../tunnel/backoff';
import { TunnelError } from '../tunnel/ssh';
import {
  IGatewayAddress,
  INodeTransport,
  NodeTransports
} from '../tunnel/transport';

const LOGO_FILES = ['logo-64x64.png', 'logo-32x32.png', 'logo-svg.svg'];

interface IRendezvous {
  host: string;
  port: number;
  pid: number;
  kind: 'kernelgateway' | 'server';
  versions?: string;
  /** The job environment's Python (jobs of older companions do not say). */
  python?: string;
}

interface IConnected {
  client: GatewayClient;
  rendezvous: IRendezvous;
  transport: Transport;
  sessions: Set<KernelSession>;
}

/** What connecting to a job's gateway gave: its published kernelspecs, and the way to it. */
export interface IGatewayReached {
  kernelspecs: KernelspecRef[];
  transport: Transport;
}

/**
 * A remote kernel a restarted companion reattaches a shim to: its id and websocket session, and how
 * many Jupyter clients took its output before (the gateway's replay waits for as many).
 */
export interface IAttach {
  remoteKernelId: string;
  sessionId: string;
  subscribers?: number;
}

/** A kernel started for one shim: the remote kernel, its websocket and the local bridge. */
export class KernelSession {
  constructor(
    readonly specName: string,
    readonly remoteKernelId: string,
    /** The websocket session: reopened with it, the gateway replays what the kernel said meanwhile. */
    readonly sessionId: string,
    private readonly _bridge: KernelBridge,
    private readonly _client: GatewayClient
  ) {}

  private _retired = false;

  /** Resolves when the kernel ended, with why. */
  get ended(): Promise<IBridgeEnd> {
    return this._bridge.ended;
  }

  get executing(): boolean {
    return this._bridge.executing;
  }

  /** Calls `listener` with the number of Jupyter clients taking the kernel's output, as it changes. */
  watchSubscribers(listener: (count: number) => void): void {
    listener(this._bridge.subscribers);
    this._bridge.watchSubscribers(listener);
  }

  get lastExecution(): number | undefined {
    return this._bridge.lastExecution;
  }

  /**
   * The allocation ended: the notebook's kernel stays, answering every request with why, until
   * Jupyter shuts it down or switches the notebook to another (ended does not resolve before).
   */
  retire(message: string): void {
    if (!this._retired) {
      void this._client
        .shutdownKernel(this.remoteKernelId)
        .catch(() => undefined);
    }
    this._retired = true;
    this._bridge.retire(message);
  }

  /** Whether it was retired (its allocation is ending or ended). */
  get retired(): boolean {
    return this._retired;
  }

  /** Ends the bridge and shuts the remote kernel down. */
  async shutdown(message: string): Promise<void> {
    this._bridge.close(message);
    await this._client
      .shutdownKernel(this.remoteKernelId)
      .catch(() => undefined);
  }
}

export interface IGatewayOptions {
  transports: NodeTransports;
  kernelspecs: KernelspecWriter;
  /** Where the jobs' files are (the cluster's file system, over SFTP from a laptop). */
  files?: IStateFileSystem;
  /**
   * The user's home on the cluster, where it is not this host's (a laptop): a notebook under the
   * laptop's home runs in the same place under the cluster's.
   */
  clusterHome?: () => Promise<string>;
  log: {
    info: (o: object, m: string) => void;
    warn: (o: object, m: string) => void;
  };
}

/**
 * Emits `connection-lost` (allocation id) when a kernel's websocket to its gateway drops: the job may
 * have ended, so the owner should look at once rather than at its next poll. `node-unreachable`
 * (allocation id, why) when it cannot be reopened yet, `node-reachable` (allocation id) once it is.
 */
export class Gateway extends EventEmitter {
  constructor(private readonly _o: IGatewayOptions) {
    super();
  }

  get kernelspecs(): KernelspecWriter {
    return this._o.kernelspecs;
  }

  /**
   * Why an allocation whose remote kernel is gone has ended (its owner asks Slurm), or null while
   * it runs: then the kernel died alone. Set by the allocations' owner.
   */
  whyEnded: (allocationId: string) => Promise<string | null> = async () => null;

  /** How this companion reaches the allocation's gateway, while it does. */
  transportOf(allocationId: string): Transport | undefined {
    return this._connected.get(allocationId)?.transport;
  }

  /** Whether this companion reached the allocation's gateway (kernels can start). */
  isConnected(allocationId: string): boolean {
    return this._connected.has(allocationId);
  }

  /**
   * Waits for the job's rendezvous file, checks the gateway answers with the token through the
   * tunnel, and publishes its kernelspecs. Waits as long as the job shows progress (its log grows:
   * modules, conda, a slow gateway start all write to it), up to `limits.totalMs`; gives up after
   * `limits.silenceMs` without any, or as soon as `stillActive` says the allocation ended.
   */
  async connect(
    allocation: Allocation,
    files: IJobFiles,
    limits: IStartupLimits,
    stillActive: () => boolean
  ): Promise<IGatewayReached> {
    const jobFs = this._o.files ?? localFileSystem;
    const jobLog = path.join(files.dir, 'job.log');
    const watch = new StartupWatch(limits, () =>
      jobFs.stat(jobLog).then(s => s?.size ?? -1)
    );
    if (allocation.node) {
      // The ssh handshake overlaps with the gateway's start-up (~1.4 s of Python imports).
      this._o.transports.warm(allocation.node);
    }
    const rendezvous = await watch.until(stillActive, () =>
      readRendezvous(files, jobFs)
    );
    const token = (await jobFs.readText(files.tokenFile))?.trim();
    if (!token) {
      throw new Error(`the gateway's token ${files.tokenFile} is gone`);
    }
    // The job names its own host; the tunnel goes to the node Slurm placed the job on.
    const node = allocation.node ?? rendezvous.host;
    const { client, version, transport } = await this._reach(
      {
        jobId: allocation.jobId as string,
        node,
        port: rendezvous.port,
        python: rendezvous.python || '/usr/bin/python3'
      },
      token,
      stillActive
    );
    let specs: IRemoteSpecToPublish[];
    try {
      specs = await remoteSpecs(client);
    } catch (err) {
      client.dispose(); // its kept connections (relay steps) must not outlive the failure
      throw err;
    }
    this._connected.get(allocation.id)?.client.dispose();
    this._connected.set(allocation.id, {
      client,
      rendezvous,
      transport,
      sessions: new Set()
    });
    this._o.log.info(
      {
        id: allocation.id,
        node,
        port: rendezvous.port,
        version,
        kind: rendezvous.kind,
        transport: transport.kind
      },
      'gateway reached'
    );
    const published = await this._o.kernelspecs.publish(
      {
        allocationId: allocation.id,
        jobId: allocation.jobId as string,
        node,
        gresLabel: gresLabel(allocation.request.gres)
      },
      specs
    );
    return { kernelspecs: published, transport };
  }

  /**
   * Reaches the gateway through each transport in turn until one answers: ssh first (bounded in
   * time where another can follow), OpenSSH where ssh's refusal was one it may overcome (the host
   * key, the login), then the srun relay. The job wrote the rendezvous once its gateway
   * listens: from here it answers in seconds, or something is wrong that waiting will not mend (a
   * wrong token, a gateway under another base URL, an ssh host key or login refused where nothing
   * else may be tried).
   */
  private async _reach(
    address: IGatewayAddress,
    token: string,
    stillActive: () => boolean
  ): Promise<{ client: GatewayClient; version: string; transport: Transport }> {
    const transports = this._o.transports;
    const candidates = transports.candidates(address);
    const refusals: string[] = [];
    const remembered = transports.sshRefusal(address.node);
    if (remembered && candidates[0].kind !== 'ssh') {
      refusals.push(remembered);
    }
    if (candidates.some(c => c.kind === 'srun')) {
      const reaped = await transports.relay.reapLeftovers(address.jobId);
      if (reaped.length) {
        this._o.log.info(
          { job: address.jobId, steps: reaped },
          'ended relay steps an earlier companion left'
        );
      }
    }
    let skipOpenSsh = false;
    for (const [i, transport] of candidates.entries()) {
      if (transport.kind === 'openssh' && skipOpenSsh) {
        continue;
      }
      const last = i === candidates.length - 1;
      const client = new GatewayClient(() => transport.open(), token, {
        connections: transport.restConnections
      });
      const limit = last ? GATEWAY_ANSWER_MS : transports.sshTryMs;
      try {
        const version = await answerThrough(
          client,
          transport,
          limit,
          last,
          stillActive
        );
        return {
          client,
          version,
          transport: { kind: transport.kind, note: refusals.join('; ') || null }
        };
      } catch (err) {
        client.dispose();
        if (
          last ||
          !(err instanceof TunnelError || err instanceof TransportTimeout)
        ) {
          throw refusals.length
            ? new Error(`${refusals.join('; ')}; ${(err as Error).message}`)
            : err;
        }
        const how = transport.kind === 'openssh' ? 'OpenSSH' : 'ssh';
        const why = `${how} to ${address.node} failed (${(err as Error).message})`;
        refusals.push(why);
        if (transport.kind === 'ssh') {
          skipOpenSsh = !NodeTransports.openSshMayHelp(err);
          transports.sshRefused(address.node, why, err);
        } else {
          // Neither could: the next allocations there go to the relay at once.
          transports.sshRefused(address.node, refusals.join('; '));
        }
        this._o.log.warn(
          { job: address.jobId, node: address.node, why },
          `${how} failed; trying the next way`
        );
      }
    }
    throw new Error('no transport to the node is configured');
  }

  /**
   * Starts a remote kernel for a shim and bridges the connection file's endpoints to it; with
   * `attach`, bridges to the remote kernel the shim had before this companion (re)started.
   *
   * #### Notes
   * `cwd` is the notebook's directory on this host; under the shared home (or, from a laptop,
   * the same place under the cluster's home) it becomes the kernel's working directory on the node.
   */
  async startKernel(
    allocationId: string,
    remoteName: string,
    specName: string,
    connectionFile: string,
    cwd: string,
    attach?: IAttach
  ) {
    const connected = this._connected.get(allocationId);
    if (!connected) {
      throw new Error(
        'this allocation has no running gateway (it ended, or the companion restarted)'
      );
    }
    const info = JSON.parse(
      await fs.readFile(connectionFile, 'utf8')
    ) as IConnectionInfo;
    const kernel = attach
      ? await this._stillRunning(connected.client, attach.remoteKernelId)
      : await connected.client.startKernel(
          remoteName,
          kernelDirectory(
            cwd,
            os.homedir(),
            await this._o.clusterHome?.()
          ).replace(/^\/+/, '')
        );
    let bridge: KernelBridge | undefined;
    try {
      // Reopened with the same session id, the gateway replays what the kernel said meanwhile.
      const sessionId = attach?.sessionId ?? randomUUID();
      const reopen = () => connected.client.channels(kernel.id, sessionId);
      bridge = new KernelBridge(info, attach ? null : await reopen(), {
        log: this._o.log,
        reopen,
        subscribers: attach?.subscribers,
        // While the job runs, a node out of reach is waited for; its end closes the bridge.
        reconnectForMs: Infinity,
        interrupt: () => connected.client.interruptKernel(kernel.id),
        onLost: () => this.emit('connection-lost', allocationId),
        onUnreachable: why => this.emit('node-unreachable', allocationId, why),
        onRestored: () => this.emit('node-reachable', allocationId),
        whenGone: () => this.whyEnded(allocationId)
      });
      await bridge.start();
      const session = new KernelSession(
        specName,
        kernel.id,
        sessionId,
        bridge,
        connected.client
      );
      connected.sessions.add(session);
      void session.ended.then(() => connected.sessions.delete(session));
      return session;
    } catch (err) {
      bridge?.close('could not start');
      await connected.client.shutdownKernel(kernel.id).catch(() => undefined);
      throw err;
    }
  }

  /** What this companion's bridges see of an allocation's kernels; undefined when not connected. */
  kernelUse(
    allocationId: string
  ):
    | { kernels: number; executing: boolean; lastExecution?: number }
    | undefined {
    const connected = this._connected.get(allocationId);
    if (!connected) {
      return undefined;
    }
    const sessions = [...connected.sessions];
    const times = sessions
      .map(s => s.lastExecution)
      .filter((t): t is number => t !== undefined);
    return {
      kernels: sessions.length,
      executing: sessions.some(s => s.executing),
      lastExecution: times.length > 0 ? Math.max(...times) : undefined
    };
  }

  /**
   * The kernels the allocation's gateway runs, whoever started them (a companion on another login
   * node, one before a restart): undefined when it does not answer.
   */
  async remoteKernels(
    allocationId: string
  ): Promise<IRemoteKernel[] | undefined> {
    return this._connected
      .get(allocationId)
      ?.client.kernels()
      .catch(() => undefined);
  }

  /**
   * The job's GPU report (evidence, and the sampler's rounds after `since`), over the connection
   * the allocation has; undefined where its gateway does not report GPUs.
   */
  async gpuReport(allocationId: string, since?: number): Promise<unknown> {
    const connected = this._connected.get(allocationId);
    if (!connected) {
      throw new Error('not connected to its gateway');
    }
    return connected.client.gpus(since);
  }

  /** The remote kernel a shim names, if its gateway still runs it. */
  private async _stillRunning(client: GatewayClient, id: string) {
    const kernel = await client.kernel(id);
    if (!kernel) {
      throw new Error(
        `the remote kernel ${id} is gone (its gateway no longer runs it)`
      );
    }
    return kernel;
  }

  /** The allocation's job is ending: its kernels answer with why from now on (release says more). */
  retireKernels(allocation: Allocation, why?: string): void {
    for (const session of this._connected.get(allocation.id)?.sessions ?? []) {
      // Without a why, a kernel already retired keeps the one it has.
      if (why || !session.retired) {
        session.retire(endedMessage(allocation, why));
      }
    }
  }

  /**
   * The allocation ended or failed: retire its kernels (each answers a cell with why, and
   * Relaunch's notebooks move on), and remove its kernelspecs.
   */
  async release(allocation: Allocation, why?: string): Promise<void> {
    // Deleting the remote kernels (mostly gone with the job) does not hold up the caller's poll.
    this.retireKernels(allocation, why);
    const connected = this._connected.get(allocation.id);
    this._connected.delete(allocation.id);
    // After the retired kernels' shutdown requests went out on its connections.
    setTimeout(() => connected?.client.dispose(), RELEASE_GRACE_MS).unref();
    if (allocation.jobId) {
      await this._o.kernelspecs.removeJob(allocation.jobId);
    }
  }

  private _connected = new Map<string, IConnected>();
}

/** What a retired kernel answers: which allocation ended, why, and what to do. */
export function endedMessage(allocation: Allocation, why?: string): string {
  return `Allocation ${allocation.id} (job ${allocation.jobId} on ${allocation.node}) has ended${why ? `: ${why}` : '.'} Its kernel is gone; relaunch it from the GPU kernel panel, or pick another kernel.`;
}

/** The gateway's kernelspecs to publish, with their logos; none of those we published ourselves. */
async function remoteSpecs(
  client: GatewayClient
): Promise<IRemoteSpecToPublish[]> {
  const { kernelspecs } = await client.kernelspecs();
  return Promise.all(
    // A gateway started by an older companion may still offer what we published (shared $HOME).
    Object.values(kernelspecs)
      .filter(spec => !isPublishedByUs(spec.spec))
      .map(async spec => {
        const found = await Promise.all(
          LOGO_FILES.map(file => client.resource(spec.name, file))
        );
        const logos: Record<string, Buffer> = {};
        LOGO_FILES.forEach(
          (file, i) => found[i] && (logos[file] = found[i] as Buffer)
        );
        return {
          remoteName: spec.name,
          displayName: spec.spec.display_name,
          language: spec.spec.language,
          logos
        };
      })
  );
}

function isPublishedByUs(spec: { metadata?: Record<string, unknown> }) {
  return Boolean(spec.metadata && METADATA_KEY in spec.metadata);
}

/**
 * The kernel's directory as the node should name it. The shim reports its working directory with
 * symlinks resolved (getcwd): under a home that is a link (/home → /gpfs/home) it is named from
 * $HOME again, as the node's own mounts may differ; anywhere else (/scratch) it stays absolute.
 * `there` is the home on the cluster where it differs (a laptop's /Users/alice, the cluster's
 * /home/alice). The gateway takes it from / and falls back to $HOME where the node lacks the
 * directory.
 */
export function kernelDirectory(
  cwd: string,
  home = os.homedir(),
  there = home
): string {
  let homes = [home];
  try {
    homes = [...new Set([home, realpathSync(home)])];
  } catch {
    // a home that does not resolve: compare with the name alone
  }
  for (const base of homes) {
    const rel = path.relative(base, cwd);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
      return path.posix.join(there, rel);
    }
  }
  return cwd;
}

/** How long a gateway whose job wrote its rendezvous may take to answer. */
const GATEWAY_ANSWER_MS = 30_000;
const FINAL_TUNNEL_ERRORS = new Set(['host-key', 'authentication']);
/** How long a released allocation's REST connections stay for the kernels' last requests. */
const RELEASE_GRACE_MS = 5_000;

/** A transport that gave no answer in the time it was given. */
class TransportTimeout extends Error {}

/**
 * `GET /api` through one transport, tried every 50 ms for up to `limitMs`. A transport that is
 * not the last gives up at its first tunnel failure (the next one is tried at once); the last
 * retries until the limit, except where retrying cannot help (host key, authentication).
 */
async function answerThrough(
  client: GatewayClient,
  transport: INodeTransport,
  limitMs: number,
  last: boolean,
  stillActive: () => boolean
): Promise<string> {
  const answering = new StartupWatch(
    { silenceMs: limitMs, totalMs: limitMs },
    null
  );
  // An HTTP status of any kind proves the way works: then a timeout is the gateway's, not ssh's.
  let answered = false;
  const backoff = new Backoff({ initialMs: 250, maxMs: 4_000 });
  try {
    return await answering.until(stillActive, () =>
      client.version().catch(async err => {
        if (
          err instanceof TunnelError &&
          (!last || FINAL_TUNNEL_ERRORS.has(err.kind))
        ) {
          throw err;
        }
        if (err instanceof TunnelError) {
          // Each relay attempt is a step and three slurmctld calls: not every 50 ms.
          await sleep(backoff.fail());
        }
        answered ||= err instanceof GatewayError && err.status !== undefined;
        return answering.failedWith(err);
      })
    );
  } catch (err) {
    if (err instanceof StartupTimeout && !last && !answered) {
      throw new TransportTimeout(
        `${transport.kind}: no answer in ${Math.round(limitMs / 1000)} s${answering.lastError ? ` (${answering.lastError})` : ''}`
      );
    }
    throw err;
  }
}

/** How long a starting job may take: silent at most `silenceMs`, in all at most `totalMs`. */
export interface IStartupLimits {
  silenceMs: number;
  totalMs: number;
}

/** Modules, conda and cold imports on a parallel file system can take minutes, while they print. */
export const DEFAULT_STARTUP_LIMITS: IStartupLimits = {
  silenceMs: 120_000,
  totalMs: 20 * 60_000
};

/**
 * The rendezvous file once the job wrote it whole. A read that fails (ESTALE on NFS, an empty file
 * on a full quota) is a "not yet", as is a file the NFS client's lookup cache still hides: listing
 * the directory first makes the client look again.
 */
async function readRendezvous(
  files: IJobFiles,
  jobFs: IStateFileSystem
): Promise<IRendezvous | undefined> {
  try {
    await jobFs.list(path.dirname(files.rendezvousFile));
    const found = (await readJson(jobFs, files.rendezvousFile)) as
      IRendezvous | undefined;
    return found && Number.isInteger(found.port) ? found : undefined;
  } catch {
    return undefined;
  }
}

/** A start-up wait that gave up. */
class StartupTimeout extends Error {}

/** Progress, not a fixed clock, decides when a starting job has failed. */
class StartupWatch {
  /** `jobLogSize`: the size whose growth is progress (-1: none yet); null where only the clock counts. */
  constructor(
    private readonly _limits: IStartupLimits,
    private readonly _jobLogSize: (() => Promise<number>) | null
  ) {
    this._started = this._lastProgress = Date.now();
  }

  /** Probes every 50 ms until it gives a value, the allocation ends, or the job stalls. */
  async until<T>(
    stillActive: () => boolean,
    probe: () => Promise<T | undefined>
  ): Promise<T> {
    for (;;) {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
      if (!stillActive()) {
        throw new Error('the allocation ended');
      }
      await this._checkProgress();
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }

  /** Remembers why a probe failed, for the message if the wait gives up. */
  failedWith(err: unknown): undefined {
    this._lastError = err instanceof Error ? err.message : String(err);
    return undefined;
  }

  get lastError(): string {
    return this._lastError;
  }

  private async _checkProgress(): Promise<void> {
    const now = Date.now();
    if (this._jobLogSize && now - this._lastLook >= 1000) {
      this._lastLook = now;
      const size = await this._jobLogSize().catch(() => -1);
      if (size !== this._logSize) {
        this._logSize = size;
        this._lastProgress = now;
      }
    }
    const why = this._lastError ? ` (last error: ${this._lastError})` : '';
    if (this._jobLogSize && now - this._lastProgress > this._limits.silenceMs) {
      throw new StartupTimeout(
        `the job showed no progress for ${Math.round(this._limits.silenceMs / 1000)} s${why}; see the job log`
      );
    }
    if (now - this._started > this._limits.totalMs) {
      throw new StartupTimeout(
        `${this._jobLogSize ? 'the gateway was not up' : 'the gateway did not answer'} after ${Math.round(this._limits.totalMs / 1000)} s${why}; see the job log`
      );
    }
  }

  private readonly _started: number;
  private _lastProgress: number;
  private _lastLook = 0;
  private _logSize = -1;
  private _lastError = '';
}
