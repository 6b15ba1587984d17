/**
 * A real Jupyter Server for integration tests, and a kernel client that talks to it the way
 * JupyterLab does: REST for sessions and kernels, the channels websocket with the v1 subprotocol.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { decodeWsV1, encodeWsV1, IMessageParts } from '../../src/bridge/codec';
import { KERNEL_WS_PROTOCOL } from '../../src/gateway/client';
import { waitFor } from './testbed';

export const LAB_ENV =
  process.env.SLURM_KERNELS_LAB_ENV ?? '/opt/slurm-kernels/lab-env';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a server's argv with an environment: here by default, or on another host. */
export type ILauncher = (
  argv: string[],
  env: NodeJS.ProcessEnv
) => ChildProcess;

/**
 * Where the server runs: its address and how it is started; with `socket`, it listens on that
 * unix socket instead (the testbed's laptop, whose network this host cannot reach).
 */
export interface IServerPlace {
  host: string;
  launch: ILauncher;
  socket?: string;
}

export class JupyterServer {
  output = '';

  private constructor(
    readonly port: number,
    readonly token: string,
    private readonly _child: ChildProcess,
    readonly host = '127.0.0.1',
    readonly socket?: string
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
    };
    _child.stdout?.on('data', keep);
    _child.stderr?.on('data', keep);
  }

  /**
   * Starts `jupyter server` from the lab environment with the given Jupyter dirs (so it sees the
   * kernelspecs the companion writes there).
   */
  static async start(
    env: NodeJS.ProcessEnv,
    rootDir: string,
    extraArgs: string[] = [],
    where: IServerPlace = {
      host: '127.0.0.1',
      launch: (argv, launchEnv) =>
        spawn(argv[0], argv.slice(1), {
          env: launchEnv,
          stdio: ['ignore', 'pipe', 'pipe']
        })
    }
  ): Promise<JupyterServer> {
    const port = await freePort();
    const token = randomBytes(16).toString('hex');
    const child = where.launch(
      [
        `${LAB_ENV}/bin/jupyter`,
        'server',
        '--no-browser',
        ...(where.socket
          ? [`--ServerApp.sock=${where.socket}`]
          : [`--ip=${where.host}`, `--port=${port}`]),
        '--ServerApp.port_retries=0',
        `--ServerApp.root_dir=${rootDir}`,
        ...extraArgs
      ],
      // The token goes in the environment, never argv.
      { ...env, JUPYTER_TOKEN: token }
    );
    const server = new JupyterServer(
      port,
      token,
      child,
      where.host,
      where.socket
    );
    child.once(
      'exit',
      code => (server.output += `\n[jupyter server exited: ${code}]\n`)
    );
    await waitFor(
      'jupyter server',
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`jupyter server exited:\n${server.output}`);
        }
        return server.request('GET', '/api/status').then(
          r => r.status === 200,
          () => false
        );
      },
      60_000,
      200
    );
    return server;
  }

  async request(
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number; body: any }> {
    if (this.socket) {
      return this._requestOverSocket(method, path, body);
    }
    const res = await fetch(`http://${this.host}:${this.port}${path}`, {
      method,
      headers: {
        Authorization: `token ${this.token}`,
        'Content-Type': 'application/json'
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  private _requestOverSocket(
    method: string,
    urlPath: string,
    body?: unknown
  ): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socket,
          path: urlPath,
          method,
          headers: {
            Authorization: `token ${this.token}`,
            'Content-Type': 'application/json'
          }
        },
        res => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: text ? JSON.parse(text) : undefined
            })
          );
        }
      );
      req.once('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async json(method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(method, path, body);
    if (res.status >= 300) {
      throw new Error(
        `${method} ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`
      );
    }
    return res.body;
  }

  /** A kernel websocket as JupyterLab opens one: its session id is also its messages' session. */
  async connect(kernelId: string): Promise<KernelChannel> {
    const session = randomUUID();
    const channels = `/api/kernels/${kernelId}/channels?session_id=${session}`;
    const ws = new WebSocket(
      this.socket
        ? `ws+unix://${this.socket}:${channels}`
        : `ws://${this.host}:${this.port}${channels}`,
      [KERNEL_WS_PROTOCOL],
      { headers: { Authorization: `token ${this.token}` }, maxPayload: 0 }
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new KernelChannel(ws, session);
  }

  /** Kills the server outright (SIGKILL): its kernels' processes are left to fend for themselves. */
  async kill(): Promise<void> {
    if (this._child.exitCode === null && this._child.signalCode === null) {
      const exited = new Promise(resolve => this._child.once('exit', resolve));
      this._child.kill('SIGKILL');
      await exited;
    }
  }

  async stop(): Promise<void> {
    if (this._child.exitCode === null && this._child.signalCode === null) {
      const exited = new Promise(resolve => this._child.once('exit', resolve));
      this._child.kill('SIGTERM');
      await exited;
    }
  }
}

export interface IReceived {
  channel: string;
  msgType: string;
  content: any;
  parentMsgId: string;
  buffers: Buffer[];
}

export interface IExecuteResult {
  reply: any;
  stdout: string;
  messages: IReceived[];
  /** Milliseconds from sending the request to the execute_reply (the baseline's round trip). */
  replyMs: number;
  /** Milliseconds to the later of execute_reply and status idle. */
  ms: number;
}

/** A kernel websocket client speaking v1, as JupyterLab 4 does. */
export class KernelChannel {
  constructor(
    private readonly _ws: WebSocket,
    private readonly _session: string = randomUUID()
  ) {
    _ws.on('message', (data: Buffer) => {
      const { channel, parts } = decodeWsV1(data);
      const header = JSON.parse(parts.header.toString('utf8'));
      const parent = JSON.parse(parts.parentHeader.toString('utf8'));
      const received: IReceived = {
        channel,
        msgType: header.msg_type,
        content: JSON.parse(parts.content.toString('utf8')),
        parentMsgId: parent.msg_id ?? '',
        buffers: parts.buffers
      };
      for (const listener of [...this._listeners]) {
        listener(received);
      }
    });
  }

  send(
    channel: string,
    msgType: string,
    content: object,
    buffers: Buffer[] = []
  ): string {
    const msgId = randomUUID();
    const header = {
      msg_id: msgId,
      msg_type: msgType,
      username: 'test',
      session: this._session,
      date: new Date().toISOString(),
      version: '5.4'
    };
    const parts: IMessageParts = {
      header: Buffer.from(JSON.stringify(header)),
      parentHeader: Buffer.from('{}'),
      metadata: Buffer.from('{}'),
      content: Buffer.from(JSON.stringify(content)),
      buffers
    };
    this._ws.send(encodeWsV1(channel, parts));
    return msgId;
  }

  /**
   * Runs code; answers input_request with `input` lines; resolves with the execute_reply once the
   * kernel is idle again.
   */
  execute(
    code: string,
    options: {
      input?: string[];
      timeoutMs?: number;
      onSent?: (msgId: string) => void;
    } = {}
  ): Promise<IExecuteResult> {
    const started = performance.now();
    const inputs = [...(options.input ?? [])];
    return new Promise((resolve, reject) => {
      const messages: IReceived[] = [];
      let reply: any;
      let replyMs = 0;
      let idle = false;
      let msgId = '';
      const timer = setTimeout(() => {
        this._listeners.delete(listener);
        reject(
          new Error(
            `no reply to ${JSON.stringify(code)} in ${options.timeoutMs ?? 30_000} ms`
          )
        );
      }, options.timeoutMs ?? 30_000);
      const listener = (m: IReceived) => {
        if (m.parentMsgId !== msgId) {
          return;
        }
        messages.push(m);
        if (m.channel === 'stdin' && m.msgType === 'input_request') {
          this.send('stdin', 'input_reply', { value: inputs.shift() ?? '' });
        }
        if (m.channel === 'shell' && m.msgType === 'execute_reply') {
          reply = m.content;
          replyMs = performance.now() - started;
        }
        if (
          m.channel === 'iopub' &&
          m.msgType === 'status' &&
          m.content.execution_state === 'idle'
        ) {
          idle = true;
        }
        if (reply && idle) {
          clearTimeout(timer);
          this._listeners.delete(listener);
          const stdout = messages
            .filter(x => x.msgType === 'stream')
            .map(x => x.content.text)
            .join('');
          resolve({
            reply,
            stdout,
            messages,
            replyMs,
            ms: performance.now() - started
          });
        }
      };
      this._listeners.add(listener);
      msgId = this.send('shell', 'execute_request', {
        code,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: true,
        stop_on_error: true
      });
      options.onSent?.(msgId);
    });
  }

  close(): void {
    this._ws.close();
  }

  private _listeners = new Set<(m: IReceived) => void>();
}
