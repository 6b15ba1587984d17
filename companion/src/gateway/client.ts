/**
 * Client of the gateway in the job (Kernel Gateway, or jupyter server): its REST API and kernel
 * websockets, over streams the transport opens (no local port). Token in the Authorization header.
 * REST calls share a few keep-alive connections: through srun each connection is a job step.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { TunnelError } from '../tunnel/ssh';

/** Opens a byte stream to the gateway (an ssh2 forwarded channel, an srun relay step). */
export type StreamFactory = () => Promise<Duplex>;

export interface IGatewayClientOptions {
  /** How many REST connections are kept open and reused; default 4. */
  connections?: number;
}

export const KERNEL_WS_PROTOCOL = 'v1.kernel.websocket.jupyter.org';

export class GatewayError extends Error {
  constructor(
    message: string,
    readonly status?: number
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

export interface IRemoteKernelspec {
  name: string;
  spec: {
    display_name: string;
    language: string;
    argv?: string[];
    metadata?: Record<string, unknown>;
  };
  resources: Record<string, string>;
}

export interface IRemoteKernel {
  id: string;
  name: string;
  execution_state?: string;
  /** ISO time of the kernel's last message (any status, not only a cell's). */
  last_activity?: string;
}

export class GatewayClient {
  constructor(
    private readonly _open: StreamFactory,
    private readonly _token: string,
    options: IGatewayClientOptions = {}
  ) {
    const connections = options.connections ?? 4;
    this._agent = new Private.StreamAgent(_open, connections);
    this._slots = new Private.Slots(connections);
  }

  /** Closes the REST connections it keeps (kernel websockets are their bridges'); no more open. */
  dispose(): void {
    this._disposed = true;
    this._agent.dispose();
  }

  /** `GET /api`: the gateway answers and accepts the token. */
  async version(): Promise<string> {
    const body = (await this._json('GET', '/api')) as { version?: string };
    return body.version ?? 'unknown';
  }

  async kernelspecs(): Promise<{
    default: string;
    kernelspecs: Record<string, IRemoteKernelspec>;
  }> {
    return (await this._json('GET', '/api/kernelspecs')) as {
      default: string;
      kernelspecs: Record<string, IRemoteKernelspec>;
    };
  }

  /** A kernelspec resource (logo), or undefined when the gateway has none. */
  async resource(specName: string, file: string): Promise<Buffer | undefined> {
    const res = await this._request(
      'GET',
      `/kernelspecs/${encodeURIComponent(specName)}/${encodeURIComponent(file)}`
    );
    return res.status === 200 ? res.body : undefined;
  }

  /**
   * `GET /api/slurm-kernels/gpus`: the job's GPU evidence and the sampler's rounds after `since`
   * (jupyterlab_slurm_kernels/gpus.py, in the gateway); undefined where the gateway has no such
   * route (a job an older companion started).
   */
  async gpus(since?: number): Promise<unknown> {
    const query = since === undefined ? '' : `?since=${since}`;
    try {
      return await this._json('GET', `/api/slurm-kernels/gpus${query}`);
    } catch (err) {
      if (err instanceof GatewayError && err.status === 404) {
        return undefined;
      }
      throw err;
    }
  }

  /** `GET /api/kernels`: the kernels the gateway runs. */
  async kernels(): Promise<IRemoteKernel[]> {
    return (await this._json('GET', '/api/kernels')) as IRemoteKernel[];
  }

  /** `GET /api/kernels/:id`: the kernel, or undefined when the gateway does not run it. */
  async kernel(id: string): Promise<IRemoteKernel | undefined> {
    try {
      return (await this._json(
        'GET',
        `/api/kernels/${encodeURIComponent(id)}`
      )) as IRemoteKernel;
    } catch (err) {
      if (err instanceof GatewayError && err.status === 404) {
        return undefined;
      }
      throw err;
    }
  }

  /**
   * Starts a kernel. The body carries no `env`: with one, the gateway would start the kernel without
   * the job's environment (CUDA_VISIBLE_DEVICES, SLURM_*, HOME).
   */
  async startKernel(name: string, path?: string): Promise<IRemoteKernel> {
    return (await this._json(
      'POST',
      '/api/kernels',
      path ? { name, path } : { name }
    )) as IRemoteKernel;
  }

  async shutdownKernel(id: string): Promise<void> {
    const res = await this._request(
      'DELETE',
      `/api/kernels/${encodeURIComponent(id)}`
    );
    if (res.status !== 204 && res.status !== 404) {
      throw new GatewayError(
        `shutting down kernel ${id}: HTTP ${res.status}`,
        res.status
      );
    }
  }

  async interruptKernel(id: string): Promise<void> {
    const res = await this._request(
      'POST',
      `/api/kernels/${encodeURIComponent(id)}/interrupt`,
      {}
    );
    if (res.status !== 204) {
      throw new GatewayError(
        `interrupting kernel ${id}: HTTP ${res.status}`,
        res.status
      );
    }
  }

  /**
   * Opens the kernel's channels websocket with the v1 subprotocol (raw frames, no JSON re-encoding).
   * It comes back paused: resume it once its 'message' listener is on. A gateway replays the output
   * it buffered right after the handshake, often in the same read as the handshake's answer, and
   * ws emits those messages before the caller's `await` has resumed; unheard, they would be lost.
   */
  async channels(kernelId: string, sessionId: string): Promise<WebSocket> {
    const stream = await this._open();
    const ws = new WebSocket(
      `ws://127.0.0.1/api/kernels/${encodeURIComponent(kernelId)}/channels?session_id=${encodeURIComponent(sessionId)}`,
      [KERNEL_WS_PROTOCOL],
      {
        headers: { Authorization: `token ${this._token}` },
        createConnection: () => Private.asSocket(stream) as any,
        perMessageDeflate: false,
        maxPayload: 0 // kernels send outputs of hundreds of MiB; the local side applies Jupyter's limits
      }
    );
    await new Promise<void>((resolve, reject) => {
      // A timer of its own: ws times the handshake by socket timeouts, which these streams lack (an
      // srun waiting for its step, a channel nobody answers would hold the kernel forever).
      const timer = setTimeout(() => {
        stream.destroy();
        ws.terminate();
        reject(
          new GatewayError(
            `kernel ${kernelId} websocket: no answer in ${HANDSHAKE_TIMEOUT_MS / 1000} s`
          )
        );
      }, HANDSHAKE_TIMEOUT_MS);
      ws.once('open', () => {
        ws.pause();
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', err => {
        clearTimeout(timer);
        reject(
          err instanceof TunnelError
            ? err
            : new GatewayError(`kernel ${kernelId} websocket: ${err.message}`)
        );
      });
      ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        // With this listener ws leaves the request open: end it, and the tunnel under it.
        req.destroy();
        stream.destroy();
        reject(
          new GatewayError(
            `kernel ${kernelId} websocket refused: HTTP ${res.statusCode}`,
            res.statusCode
          )
        );
      });
    });
    if (ws.protocol !== KERNEL_WS_PROTOCOL) {
      ws.terminate(); // paused, it would not read the gateway's answer to a close
      throw new GatewayError(
        `the gateway does not speak ${KERNEL_WS_PROTOCOL} (it chose "${ws.protocol}")`
      );
    }
    return ws;
  }

  private async _json(
    method: string,
    path: string,
    body?: unknown
  ): Promise<unknown> {
    const res = await this._request(method, path, body);
    if (res.status < 200 || res.status >= 300) {
      const detail = Private.message(res.body) ?? `HTTP ${res.status}`;
      throw new GatewayError(`${method} ${path}: ${detail}`, res.status);
    }
    return res.body.length ? JSON.parse(res.body.toString('utf8')) : undefined;
  }

  private async _request(
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number; body: Buffer }> {
    // No more requests at once than connections: the agent counts a connection only once it
    // opened, so concurrent requests would open more, and it closes the extra ones when free.
    if (this._disposed) {
      throw new GatewayError(
        `${method} ${path}: the allocation's gateway was let go`
      );
    }
    const release = await this._slots.take();
    try {
      return await this._requestOnce(method, path, body);
    } catch (err) {
      // A kept connection the gateway (or the relay step) closed while idle fails the first
      // request put on it; one that changes nothing is sent again on a new connection.
      if (
        (err as { reusedSocket?: boolean }).reusedSocket &&
        IDEMPOTENT.has(method)
      ) {
        return await this._requestOnce(method, path, body);
      }
      throw err;
    } finally {
      release();
    }
  }

  private _requestOnce(
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number; body: Buffer }> {
    const payload =
      body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          method,
          host: '127.0.0.1',
          path,
          agent: this._agent,
          headers: {
            Authorization: `token ${this._token}`,
            ...(payload
              ? {
                  'Content-Type': 'application/json',
                  'Content-Length': payload.length
                }
              : {})
          }
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks)
            });
          });
          res.on('error', err => {
            clearTimeout(timer);
            reject(new GatewayError(`${method} ${path}: ${err.message}`));
          });
        }
      );
      // A timer of its own: the streams under it have no socket timeouts.
      const timer = setTimeout(
        () =>
          req.destroy(
            new GatewayError(
              `${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`
            )
          ),
        REQUEST_TIMEOUT_MS
      );
      req.on('error', err => {
        clearTimeout(timer);
        // The transport's own error (an ssh host key, a refused tunnel, a relay step srun
        // refused) says what it is.
        const failure =
          err instanceof GatewayError || err instanceof TunnelError
            ? err
            : new GatewayError(`${method} ${path}: ${err.message}`);
        // A request that timed out is not sent again: it may have run (a kernel started).
        if (!(err instanceof GatewayError)) {
          Object.assign(failure, { reusedSocket: req.reusedSocket });
        }
        reject(failure);
      });
      req.end(payload);
    });
  }

  private readonly _agent: Private.StreamAgent;
  private readonly _slots: Private.Slots;
  private _disposed = false;
}

const REQUEST_TIMEOUT_MS = 60_000;
const HANDSHAKE_TIMEOUT_MS = 30_000;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'DELETE']);

namespace Private {
  /** At most `size` holders at once; the others wait in turn. */
  export class Slots {
    constructor(private _free: number) {}

    async take(): Promise<() => void> {
      if (this._free > 0) {
        this._free--;
      } else {
        await new Promise<void>(resolve => this._waiting.push(resolve));
      }
      let released = false;
      return () => {
        if (released) {
          return;
        }
        released = true;
        const next = this._waiting.shift();
        if (next) {
          next();
        } else {
          this._free++;
        }
      };
    }

    private _waiting: Array<() => void> = [];
  }

  /** Keep-alive HTTP connections over the transport's streams. */
  export class StreamAgent extends http.Agent {
    constructor(
      private readonly _openStream: StreamFactory,
      maxSockets: number
    ) {
      super({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    }

    createConnection(
      _options: unknown,
      done: (err: Error | null, stream?: Duplex) => void
    ): undefined {
      this._openStream().then(stream => {
        if (this._disposed) {
          // Opened for a request given up meanwhile: nobody would close it.
          stream.destroy();
          done(new Error('the client was disposed'));
        } else {
          done(null, asSocket(stream));
        }
      }, done);
      return undefined;
    }

    /** Closes its connections, and any that opens from now on. */
    dispose(): void {
      this._disposed = true;
      this.destroy();
    }

    private _disposed = false;
  }

  /** The socket methods http and ws call, on a stream that has none (ssh2 channel, srun stdio). */
  export function asSocket(stream: Duplex): Duplex {
    const s = stream as Duplex & Record<string, unknown>;
    for (const name of [
      'setKeepAlive',
      'setNoDelay',
      'setTimeout',
      'ref',
      'unref'
    ]) {
      if (typeof s[name] !== 'function') {
        s[name] = () => stream;
      }
    }
    return stream;
  }

  export function message(body: Buffer): string | undefined {
    try {
      const parsed = JSON.parse(body.toString('utf8'));
      return parsed.message || parsed.reason || undefined;
    } catch {
      return undefined;
    }
  }
}
