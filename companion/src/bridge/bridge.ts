/**
 * One bridge per kernel: serves the five ZMQ endpoints of the connection file Jupyter Server wrote
 * for the kernelspec's shim, and maps them to the remote kernel's channels websocket.
 *
 * - shell, control, stdin: ROUTER sockets; each request's identities are remembered by msg_id, so
 *   replies (and stdin's input_request, whose parent is the execute_request) go back to the asker.
 * - iopub: PUB; every message of the kernel is published to all subscribers, under the topic
 *   `kernel.<msg_type>`.
 * - hb: REP, answered here while the remote kernel's websocket is open.
 * - shutdown_request is answered here and ends the bridge (the owner deletes the remote kernel);
 *   interrupt_request (the local kernelspec says interrupt_mode "message") becomes the gateway's
 *   REST interrupt, which interrupts the remote kernel the way its own kernelspec says.
 * - A lost websocket (the tunnel dropped) is reopened with the same session id, with backoff; the
 *   gateway replays what the kernel said meanwhile, and what Jupyter sent waits here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import * as zmq from 'zeromq';
import {
  CodecError,
  decodeWsV1,
  encodeWsV1,
  IMessageParts,
  IZmqMessage,
  iopubTopic,
  msgIdOf,
  msgTypeOf,
  sessionOf,
  parseZmqFrames,
  Signer,
  toZmqFrames
} from './codec';
import { Backoff } from '../tunnel/backoff';

/** The fields of a Jupyter connection file the bridge uses. */
export interface IConnectionInfo {
  transport: 'tcp' | 'ipc';
  ip: string;
  shell_port: number;
  control_port: number;
  stdin_port: number;
  iopub_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
}

type RoutedChannel = 'shell' | 'control' | 'stdin';

export interface IBridgeEnd {
  /** 'shutdown' when Jupyter asked the kernel to shut down (or restart); 'remote' when the kernel went away. */
  reason: 'shutdown' | 'remote' | 'closed';
  restart?: boolean;
  message: string;
}

export interface IBridgeOptions {
  log?: { warn: (obj: object, msg: string) => void };
  /**
   * Opens the remote kernel's websocket again, with the same session id. Without it, a lost
   * websocket ends the bridge. An error with `status` 404 means the kernel is gone: no retry.
   */
  reopen?: () => Promise<WebSocket>;
  /** How long to keep trying to reopen a lost websocket; default 60 s. */
  reconnectForMs?: number;
  /** Interrupts the remote kernel (the gateway's REST call). Without it, interrupt_request is relayed. */
  interrupt?: () => Promise<void>;
  /** Called when the websocket is lost, before reopening it: the job may have ended. */
  onLost?: () => void;
  /** Called when reopening the lost websocket failed (the node does not answer), with why. */
  onUnreachable?: (why: string) => void;
  /** Called when a lost websocket was reopened. */
  onRestored?: () => void;
  /**
   * For a reattached bridge: how many Jupyter clients took all of iopub from the companion before
   * (its last `subscribers` count). The websocket is reopened, and the gateway's replay flows, once
   * as many have subscribed again.
   */
  subscribers?: number;
  /**
   * The remote kernel is gone (the gateway no longer knows it): resolves why when its allocation
   * ended, and the kernel is retired saying so; null when it died alone, and the bridge ends (so
   * Jupyter starts another).
   */
  whenGone?: () => Promise<string | null>;
}

const MAX_ROUTES = 10_000;
/** Messages from Jupyter held while the websocket is reopened. */
const MAX_PENDING = 10_000;
/** How long a reattached bridge waits for Jupyter's iopub subscribers before it lets output flow. */
const SUBSCRIBER_WAIT_MS = 10_000;
/**
 * Where the count from before is unknown: after the first subscriber to all of iopub, how long the
 * others get. Jupyter Server's activity watcher and each websocket's own socket reconnect
 * separately, and on a loaded login node the one that takes the output can come seconds after the
 * watcher (fresh-clone CI runs lost lines printed during the gap with 250 ms, then with 1 s): hence
 * the count, carried by the shim from one companion to the next.
 */
const OTHER_SUBSCRIBERS_MS = 1_000;

export class KernelBridge {
  /**
   * `ws`: the remote kernel's websocket; null to reattach to a kernel that runs on (the companion
   * restarted): the websocket is then opened with `reopen` once Jupyter has subscribed to iopub
   * again, so the output the gateway replays reaches it.
   */
  constructor(
    private readonly _info: IConnectionInfo,
    ws: WebSocket | null,
    private readonly _o: IBridgeOptions = {}
  ) {
    this._ws = ws;
    this._log = _o.log ?? { warn: () => undefined };
    this._signer = new Signer(_info.key, _info.signature_scheme);
  }

  /** Binds the local endpoints and starts relaying. Messages Jupyter sent before this are queued by ZMQ. */
  async start(): Promise<void> {
    const ep = (port: number) =>
      this._info.transport === 'ipc'
        ? `ipc://${this._info.ip}-${port}`
        : `tcp://${this._info.ip}:${port}`;
    await Promise.all([
      this._shell.bind(ep(this._info.shell_port)),
      this._control.bind(ep(this._info.control_port)),
      this._stdin.bind(ep(this._info.stdin_port)),
      this._iopub.bind(ep(this._info.iopub_port)),
      this._hb.bind(ep(this._info.hb_port))
    ]);
    void this._pump('shell', this._shell);
    void this._pump('control', this._control);
    void this._pump('stdin', this._stdin);
    void this._heartbeat();
    void this._subscriptions();
    if (this._ws) {
      this._attach(this._ws);
      return;
    }
    if (!this._o.reopen) {
      throw new Error('a bridge without a websocket needs reopen');
    }
    await this._subscribed(SUBSCRIBER_WAIT_MS);
    void this._reconnect(this._o.reopen, 'reattached');
  }

  /** How many Jupyter clients take all of iopub now (the activity watcher, one per websocket). */
  get subscribers(): number {
    return this._subscribers;
  }

  /** Calls `listener` with the number of subscribers each time it changes. */
  watchSubscribers(listener: (count: number) => void): void {
    this._subscriberListeners.push(listener);
  }

  /**
   * Whether a cell runs: an execute_request relayed whose reply has not come back. A companion that
   * restarted mid-cell does not know; the gateway's execution_state does.
   */
  get executing(): boolean {
    return this._executing.size > 0;
  }

  /** When a cell last started or ended through this bridge (ms since the epoch), if ever. */
  get lastExecution(): number | undefined {
    return this._lastExecution;
  }

  /** Resolves when the bridge has ended, with why. */
  get ended(): Promise<IBridgeEnd> {
    return this._endedPromise;
  }

  /** Stops relaying and closes every socket. */
  close(message = 'closed'): void {
    this._end({ reason: 'closed', message });
  }

  /**
   * The remote kernel is gone for good (its allocation ended), but the notebook keeps this kernel:
   * from now on every request is answered here, a cell with `message` as its error, so Jupyter
   * does not restart a kernel that cannot come back (a dialog at every attempt). The bridge ends
   * when Jupyter shuts the kernel down or picks another one.
   */
  retire(message: string): void {
    if (this._closed) {
      return;
    }
    if (this._retired !== null) {
      this._retired = message; // the final word on why, once Slurm gives it
      return;
    }
    this._retired = message;
    this._reconnecting = false;
    this._executing.clear();
    // What Jupyter asked while the websocket was down is answered now, like what it asks next.
    for (const frame of this._pending.splice(0)) {
      const { parts } = decodeWsV1(frame);
      const route = this._routes.get(msgIdOf(parts.header));
      if (route) {
        void this._answerRetired(
          route.channel,
          {
            ...parts,
            identities: route.identities,
            signature: Buffer.alloc(0)
          },
          message
        );
      }
    }
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.close();
    }
  }

  private _attach(ws: WebSocket): void {
    this._ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      this._fromKernel(data, isBinary)
    );
    ws.on('close', (code: number, reason: Buffer) =>
      this._lost(ws, `closed (${code} ${reason.toString() || 'no reason'})`)
    );
    ws.on('error', err => this._lost(ws, `failed: ${err.message}`));
    // Opened paused (GatewayClient.channels): what the gateway replayed at once flows now.
    ws.resume();
    if (ws.readyState !== ws.OPEN) {
      this._lost(ws, 'closed before the bridge used it');
    }
  }

  /**
   * Resolves once as many Jupyter clients as before took all of iopub again (where the count from
   * before is unknown: once one did, and a moment more for the others), or after `timeoutMs`.
   */
  private async _subscribed(timeoutMs: number): Promise<void> {
    const expected = this._o.subscribers;
    // 0 is a count too (no notebook had the kernel open): nobody to wait for.
    const enough = () =>
      expected !== undefined
        ? this._subscribers >= expected
        : this._subscribers > 0;
    if (!enough()) {
      const giveUp = new AbortController();
      const subscribed = await Promise.race([
        new Promise<boolean>(
          resolve => (this._onSubscribed = () => enough() && resolve(true))
        ),
        sleep(timeoutMs, false, { signal: giveUp.signal }).catch(() => false)
      ]);
      giveUp.abort();
      this._onSubscribed = null;
      if (!subscribed) {
        this._log.warn(
          { subscribers: this._subscribers, expected: expected ?? null },
          'reattached before every Jupyter client subscribed to iopub again'
        );
        return;
      }
    }
    if (expected === undefined) {
      await sleep(OTHER_SUBSCRIBERS_MS);
    }
  }

  /**
   * Counts iopub subscribers. A verbose XPUB hears every subscription as a frame (1 = subscribe,
   * 0 = unsubscribe, also when a subscriber's connection ends). Only a subscription to everything
   * ('') is a client that takes output.
   */
  private async _subscriptions(): Promise<void> {
    try {
      for await (const [frame] of this._iopub) {
        if (frame.length !== 1) {
          continue;
        }
        this._subscribers = Math.max(
          0,
          this._subscribers + (frame[0] === 1 ? 1 : -1)
        );
        this._subscriberListeners.forEach(listener =>
          listener(this._subscribers)
        );
        this._onSubscribed?.();
      }
    } catch {
      // closed with the bridge
    }
  }

  private _lost(ws: WebSocket, why: string): void {
    if (
      this._closed ||
      ws !== this._ws ||
      this._reconnecting ||
      this._retired !== null
    ) {
      return;
    }
    this._o.onLost?.();
    if (!this._o.reopen) {
      this._end({
        reason: 'remote',
        message: `the remote kernel's connection ${why}`
      });
      return;
    }
    void this._reconnect(this._o.reopen, why);
  }

  private async _reconnect(
    reopen: () => Promise<WebSocket>,
    why: string
  ): Promise<void> {
    this._reconnecting = true;
    this._log.warn({ why }, "reopening the remote kernel's websocket");
    const deadline = Date.now() + (this._o.reconnectForMs ?? 60_000);
    const backoff = new Backoff();
    let lastError = '';
    while (!this._closed && this._retired === null) {
      try {
        const ws = await reopen();
        if (this._closed || this._retired !== null) {
          ws.terminate(); // never attached: paused, it would not read the answer to a close
          return;
        }
        this._reconnecting = false;
        this._attach(ws);
        this._pending.splice(0).forEach(frame => ws.send(frame));
        if (backoff.failures > 0) {
          this._o.onRestored?.();
        }
        return;
      } catch (err) {
        lastError = (err as Error).message;
        const delay = backoff.fail();
        if (backoff.failures === 1) {
          this._o.onUnreachable?.(lastError);
        }
        if ((err as { status?: number }).status === 404) {
          // Its allocation ending, or the kernel alone dying (Jupyter then starts another)?
          const why = await this._o.whenGone?.().catch(() => null);
          if (why) {
            this.retire(why);
            return;
          }
          break;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          break;
        }
        await sleep(Math.min(delay, left)); // the last attempt comes at the deadline
      }
    }
    this._reconnecting = false;
    if (this._retired !== null) {
      return;
    }
    this._end({
      reason: 'remote',
      message: `the remote kernel's connection ${why}, and reopening it failed: ${lastError}`
    });
  }

  private async _pump(
    channel: RoutedChannel,
    socket: zmq.Router
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        this._fromJupyter(channel, frames as Buffer[]);
      }
    } catch (err) {
      if (!this._closed) {
        this._end({
          reason: 'closed',
          message: `${channel} socket failed: ${(err as Error).message}`
        });
      }
    }
  }

  private _fromJupyter(channel: RoutedChannel, frames: Buffer[]): void {
    let message: IZmqMessage;
    try {
      message = parseZmqFrames(frames);
    } catch (err) {
      this._log.warn(
        { channel, err: (err as Error).message },
        'dropped a malformed message from Jupyter'
      );
      return;
    }
    if (!this._signer.verify(message)) {
      this._log.warn(
        { channel },
        'dropped a message with a bad or replayed signature'
      );
      return;
    }
    const msgId = msgIdOf(message.header);
    this._remember(msgId, channel, message.identities);
    const msgType =
      channel === 'control' || channel === 'shell'
        ? msgTypeOf(message.header)
        : '';
    if (msgType === 'execute_request') {
      this._executing.add(msgId);
      this._lastExecution = Date.now();
    }
    if (msgType === 'shutdown_request') {
      this._answerShutdown(message);
      return;
    }
    if (this._retired !== null) {
      void this._answerRetired(channel, message, this._retired);
      return;
    }
    if (msgType === 'interrupt_request' && this._o.interrupt) {
      void this._answerInterrupt(message, this._o.interrupt);
      return;
    }
    const frame = encodeWsV1(channel, message);
    // Between a connection dropping and its close event, the websocket is no longer open: hold on.
    const ws = this._ws;
    const held =
      !ws ||
      this._reconnecting ||
      (this._o.reopen !== undefined && ws.readyState !== ws.OPEN);
    if (held) {
      this._pending.push(frame);
      if (this._pending.length > MAX_PENDING) {
        this._pending.shift();
        this._log.warn({}, 'dropped the oldest message held for the kernel');
      }
    } else if (ws.readyState === ws.OPEN) {
      ws.send(frame);
    }
  }

  private _fromKernel(data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this._log.warn(
        {},
        'dropped a text frame: the gateway should speak the v1 protocol'
      );
      return;
    }
    let channel: string;
    let parts: IMessageParts;
    try {
      ({ channel, parts } = decodeWsV1(data));
    } catch (err) {
      this._log.warn(
        { err: (err as CodecError).message },
        'dropped a malformed frame from the gateway'
      );
      return;
    }
    if (channel === 'iopub') {
      void this._send(
        this._iopub,
        toZmqFrames([iopubTopic(parts.header)], parts, this._signer)
      );
      return;
    }
    if (channel !== 'shell' && channel !== 'control' && channel !== 'stdin') {
      return;
    }
    const replyType = channel === 'stdin' ? '' : msgTypeOf(parts.header);
    if (replyType === 'execute_reply') {
      this._executing.delete(msgIdOf(parts.parentHeader));
      this._lastExecution = Date.now();
      this._executionCount = executionCountOf(
        parts.content,
        this._executionCount
      );
    } else if (replyType === 'kernel_info_reply') {
      this._kernelInfo = parts.content; // what a retired kernel says of itself
    }
    const identities = this._routeOf(parts.parentHeader);
    if (!identities) {
      this._log.warn({ channel }, 'dropped a reply whose request is unknown');
      return;
    }
    const socket =
      channel === 'shell'
        ? this._shell
        : channel === 'control'
          ? this._control
          : this._stdin;
    void this._send(socket, toZmqFrames(identities, parts, this._signer));
  }

  /**
   * Whom a reply goes to: the identities its request came with. A request made before this bridge
   * existed (a cell running while the companion restarted) goes to the identity Jupyter's clients
   * give their sockets: their session (jupyter_server and jupyter_client both do so).
   */
  private _routeOf(parentHeader: Buffer): Buffer[] | undefined {
    const known = this._routes.get(msgIdOf(parentHeader));
    if (known) {
      return known.identities;
    }
    let session = '';
    try {
      session = sessionOf(parentHeader);
    } catch {
      // not JSON: no route
    }
    return session ? [Buffer.from(session)] : undefined;
  }

  /**
   * Replies to shutdown_request here: the remote kernel is deleted through the gateway's REST API
   * by the bridge's owner, so the gateway's restarter never sees a kernel dying on its own.
   */
  private _answerShutdown(request: IZmqMessage): void {
    const content = JSON.parse(request.content.toString('utf8')) as {
      restart?: boolean;
    };
    void this._reply(request, 'shutdown_reply', {
      status: 'ok',
      restart: Boolean(content.restart)
    }).then(() =>
      this._end({
        reason: 'shutdown',
        restart: Boolean(content.restart),
        message: 'Jupyter asked the kernel to shut down'
      })
    );
  }

  private async _answerInterrupt(
    request: IZmqMessage,
    interrupt: () => Promise<void>
  ): Promise<void> {
    try {
      await interrupt();
      await this._reply(request, 'interrupt_reply', { status: 'ok' });
    } catch (err) {
      const evalue = `the gateway could not interrupt the kernel: ${(err as Error).message}`;
      this._log.warn({}, evalue);
      await this._reply(request, 'interrupt_reply', {
        status: 'error',
        ename: 'InterruptError',
        evalue,
        traceback: []
      });
    }
  }

  /** A reply made here, by default on the control channel, to the Jupyter client that asked. */
  private _reply(
    request: IZmqMessage,
    msgType: string,
    content: object | Buffer,
    socket: zmq.Router = this._control
  ): Promise<void> {
    const reply = madeHere(request, msgType, '-reply', content);
    return this._send(
      socket,
      toZmqFrames(request.identities, reply, this._signer)
    );
  }

  /** An iopub message made here, in answer to `request`. */
  private _publish(
    request: IZmqMessage,
    msgType: string,
    content: object
  ): Promise<void> {
    const message = madeHere(request, msgType, `-${msgType}`, content);
    return this._send(
      this._iopub,
      toZmqFrames([iopubTopic(message.header)], message, this._signer)
    );
  }

  /**
   * A retired kernel's answer to anything Jupyter asks: busy, the reply (an error that says why
   * for a cell; what the kernel said of itself for kernel_info), idle, as a kernel would.
   */
  private async _answerRetired(
    channel: RoutedChannel,
    request: IZmqMessage,
    why: string
  ): Promise<void> {
    const msgType = msgTypeOf(request.header);
    if (channel === 'stdin' || !msgType.endsWith('_request')) {
      return;
    }
    const socket = channel === 'shell' ? this._shell : this._control;
    const error = {
      status: 'error',
      ename: 'AllocationEnded',
      evalue: why,
      traceback: [`AllocationEnded: ${why}`]
    };
    await this._publish(request, 'status', { execution_state: 'busy' });
    if (msgType === 'execute_request') {
      await this._publish(request, 'error', error);
    }
    // A cell gets the next execution count, as from the kernel: clients wait for one.
    const count = msgType === 'execute_request' ? ++this._executionCount : 0;
    await this._reply(
      request,
      msgType.replace(/_request$/, '_reply'),
      retiredReply(msgType, error, this._kernelInfo, count),
      socket
    );
    await this._publish(request, 'status', { execution_state: 'idle' });
  }

  private async _heartbeat(): Promise<void> {
    try {
      for await (const frames of this._hb) {
        await this._hb.send(frames as Buffer[]);
      }
    } catch {
      // closed with the bridge
    }
  }

  private _remember(
    msgId: string,
    channel: RoutedChannel,
    identities: Buffer[]
  ): void {
    if (!msgId) {
      return;
    }
    this._routes.set(msgId, { channel, identities });
    if (this._routes.size > MAX_ROUTES) {
      // Maps iterate in insertion order: drop the oldest request.
      this._routes.delete(this._routes.keys().next().value as string);
    }
  }

  /**
   * Sends in arrival order. zeromq.js allows one send in progress per socket, so sends are chained
   * per socket rather than awaited by each caller.
   */
  private _send(
    socket: zmq.Router | zmq.XPublisher,
    frames: Buffer[]
  ): Promise<void> {
    const previous = this._sending.get(socket) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this._closed) {
        return;
      }
      try {
        await socket.send(frames);
      } catch (err) {
        if (!this._closed) {
          this._log.warn(
            { err: (err as Error).message },
            'could not deliver a message to Jupyter'
          );
        }
      }
    });
    this._sending.set(socket, next);
    return next;
  }

  private _end(end: IBridgeEnd): void {
    if (this._closed) {
      return;
    }
    this._closed = true;
    for (const socket of [
      this._shell,
      this._control,
      this._stdin,
      this._iopub,
      this._hb
    ]) {
      socket.close();
    }
    this._ws?.removeAllListeners('message');
    this._ws?.resume(); // one never attached is still paused: it would not read the close's answer
    this._ws?.close();
    this._resolveEnded(end);
  }

  private _ws: WebSocket | null;
  private _log: { warn: (obj: object, msg: string) => void };
  private _reconnecting = false;
  private _pending: Buffer[] = [];
  private _signer: Signer;
  private _shell = new zmq.Router();
  private _control = new zmq.Router();
  private _stdin = new zmq.Router();
  // XPUB: a publisher that also hears its subscribers come and go, each of them.
  private _iopub = new zmq.XPublisher({ verbosity: 'allSubsUnsubs' });
  private _subscribers = 0;
  private _subscriberListeners: ((count: number) => void)[] = [];
  private _onSubscribed: (() => void) | null = null;
  private _hb = new zmq.Reply();
  private _routes = new Map<
    string,
    { channel: RoutedChannel; identities: Buffer[] }
  >();
  private _sending = new Map<zmq.Router | zmq.XPublisher, Promise<void>>();
  private _executing = new Set<string>();
  /** Why the kernel was retired (its allocation ended), or null while it runs. */
  private _retired: string | null = null;
  /** The remote kernel's last kernel_info_reply content. */
  private _kernelInfo: Buffer | null = null;
  /** The last execution count a reply gave (the retired kernel goes on from it). */
  private _executionCount = 0;
  private _lastExecution: number | undefined;
  private _closed = false;
  private _resolveEnded!: (end: IBridgeEnd) => void;
  private _endedPromise = new Promise<IBridgeEnd>(
    resolve => (this._resolveEnded = resolve)
  );
}

/** A message made by the bridge, in answer to `request` (its parent), with the request's session. */
function madeHere(
  request: IZmqMessage,
  msgType: string,
  idSuffix: string,
  content: object | Buffer
): IMessageParts {
  const requestHeader = JSON.parse(request.header.toString('utf8'));
  const header = {
    ...requestHeader,
    msg_id: `${requestHeader.msg_id}${idSuffix}`,
    msg_type: msgType,
    date: new Date().toISOString()
  };
  return {
    header: Buffer.from(JSON.stringify(header)),
    parentHeader: request.header,
    metadata: Buffer.from('{}'),
    content: Buffer.isBuffer(content)
      ? content
      : Buffer.from(JSON.stringify(content)),
    buffers: []
  };
}

/** The reply content a retired kernel gives to a request, by its type. */
function retiredReply(
  msgType: string,
  error: object,
  kernelInfo: Buffer | null,
  executionCount: number
): object | Buffer {
  switch (msgType) {
    case 'kernel_info_request':
      return (
        kernelInfo ?? {
          status: 'ok',
          protocol_version: '5.3',
          implementation: 'slurm-kernels',
          implementation_version: '0',
          language_info: { name: 'python' },
          banner: ''
        }
      );
    case 'comm_info_request':
      return { status: 'ok', comms: {} };
    case 'history_request':
      return { status: 'ok', history: [] };
    case 'is_complete_request':
      return { status: 'unknown' };
    case 'interrupt_request':
      return { status: 'ok' };
    case 'execute_request':
      return { ...error, execution_count: executionCount };
    default:
      return error;
  }
}

/** An execute_reply's execution count, or `before` when it has none. */
function executionCountOf(content: Buffer, before: number): number {
  try {
    const count = (
      JSON.parse(content.toString('utf8')) as { execution_count?: unknown }
    ).execution_count;
    return typeof count === 'number' ? count : before;
  } catch {
    return before;
  }
}
