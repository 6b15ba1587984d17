/**
 * The gateway side of allocations: reach each job's gateway through the tunnel, publish its
 * kernelspecs, and run a bridge for every kernel Jupyter Server starts from them.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Allocation, KernelspecRef } from '../../../src/api/allocation';
import { IBridgeEnd, IConnectionInfo, KernelBridge } from '../bridge/bridge';
import { GatewayClient } from '../gateway/client';
import type { IJobFiles } from '../gateway/jobScript';
import {
  gresLabel,
  IRemoteSpecToPublish,
  KernelspecWriter
} from '../kernelspecs/writer';
import { readJsonIfExists } from '../state/files';
import type { SshPool } from '../tunnel/ssh';

const LOGO_FILES = ['logo-64x64.png', 'logo-32x32.png', 'logo-svg.svg'];

interface IRendezvous {
  host: string;
  port: number;
  pid: number;
  kind: 'kernelgateway' | 'server';
  versions?: string;
}

interface IConnected {
  client: GatewayClient;
  rendezvous: IRendezvous;
  sessions: Set<KernelSession>;
}

/** A kernel started for one shim: the remote kernel, its websocket and the local bridge. */
export class KernelSession {
  constructor(
    readonly specName: string,
    readonly remoteKernelId: string,
    private readonly _bridge: KernelBridge,
    private readonly _client: GatewayClient
  ) {}

  /** Resolves when the kernel ended, with why. */
  get ended(): Promise<IBridgeEnd> {
    return this._bridge.ended;
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
  tunnels: SshPool;
  kernelspecs: KernelspecWriter;
  log: {
    info: (o: object, m: string) => void;
    warn: (o: object, m: string) => void;
  };
}

/**
 * Emits `connection-lost` (allocation id) when a kernel's websocket to its gateway drops: the job may
 * have ended, so the owner should look at once rather than at its next poll.
 */
export class Gateway extends EventEmitter {
  constructor(private readonly _o: IGatewayOptions) {
    super();
  }

  get kernelspecs(): KernelspecWriter {
    return this._o.kernelspecs;
  }

  /**
   * Waits for the job's rendezvous file, checks the gateway answers with the token through the
   * tunnel, and publishes its kernelspecs. Gives up after `timeoutMs`, or as soon as `stillActive`
   * says the allocation ended.
   */
  async connect(
    allocation: Allocation,
    files: IJobFiles,
    timeoutMs: number,
    stillActive: () => boolean
  ): Promise<KernelspecRef[]> {
    const deadline = Date.now() + timeoutMs;
    if (allocation.node) {
      // The ssh handshake overlaps with the gateway's start-up (~1.4 s of Python imports).
      this._o.tunnels.warm(allocation.node);
    }
    const rendezvous = await waitUntil(deadline, stillActive, async () => {
      const found = (await readJsonIfExists(files.rendezvousFile)) as
        IRendezvous | undefined;
      return found && Number.isInteger(found.port) ? found : undefined;
    });
    const token = (await fs.readFile(files.tokenFile, 'utf8')).trim();
    // The job names its own host; the tunnel goes to the node Slurm placed the job on.
    const node = allocation.node ?? rendezvous.host;
    const client = new GatewayClient(
      () => this._o.tunnels.forward(node, '127.0.0.1', rendezvous.port),
      token
    );
    const version = await waitUntil(deadline, stillActive, () =>
      client.version().catch(() => undefined)
    );
    const { kernelspecs } = await client.kernelspecs();
    const specs: IRemoteSpecToPublish[] = await Promise.all(
      Object.values(kernelspecs).map(async spec => {
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
    this._connected.set(allocation.id, {
      client,
      rendezvous,
      sessions: new Set()
    });
    this._o.log.info(
      {
        id: allocation.id,
        node,
        port: rendezvous.port,
        version,
        kind: rendezvous.kind
      },
      'gateway reached'
    );
    return this._o.kernelspecs.publish(
      {
        allocationId: allocation.id,
        jobId: allocation.jobId as string,
        node,
        gresLabel: gresLabel(allocation.request.gres)
      },
      specs
    );
  }

  /**
   * Starts a remote kernel for a shim and bridges the connection file's endpoints to it.
   *
   * #### Notes
   * `cwd` is the notebook's directory on this host; under the shared home it becomes the kernel's
   * working directory on the node.
   */
  async startKernel(
    allocationId: string,
    remoteName: string,
    specName: string,
    connectionFile: string,
    cwd: string
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
    const kernel = await connected.client.startKernel(
      remoteName,
      relativeToHome(cwd)
    );
    let bridge: KernelBridge | undefined;
    try {
      // Reopened with the same session id, the gateway replays what the kernel said meanwhile.
      const sessionId = randomUUID();
      const reopen = () => connected.client.channels(kernel.id, sessionId);
      bridge = new KernelBridge(info, await reopen(), {
        log: this._o.log,
        reopen,
        interrupt: () => connected.client.interruptKernel(kernel.id),
        onLost: () => this.emit('connection-lost', allocationId)
      });
      await bridge.start();
      const session = new KernelSession(
        specName,
        kernel.id,
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

  /** The allocation ended or failed: end its kernels, saying why, and remove its kernelspecs. */
  async release(allocation: Allocation, why?: string): Promise<void> {
    const connected = this._connected.get(allocation.id);
    this._connected.delete(allocation.id);
    const ended = `allocation ${allocation.id} (job ${allocation.jobId}) ended`;
    for (const session of connected?.sessions ?? []) {
      // The bridge ends at once; deleting the remote kernel (mostly gone with its job) must not
      // hold up the caller's poll when the node does not answer.
      void session.shutdown(why ? `${ended}: ${why}` : ended);
    }
    if (allocation.jobId) {
      await this._o.kernelspecs.removeJob(allocation.jobId);
    }
  }

  private _connected = new Map<string, IConnected>();
}

function relativeToHome(cwd: string): string | undefined {
  const rel = path.relative(os.homedir(), cwd);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel)
    ? rel
    : undefined;
}

async function waitUntil<T>(
  deadline: number,
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
    if (Date.now() > deadline) {
      throw new Error('timed out; see the job log');
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}
