/**
 * The bridge against real ZMQ sockets (as jupyter_client connects them) and an in-process websocket
 * server playing the Kernel Gateway.
 */
import { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import * as zmq from 'zeromq';
import {
  IBridgeOptions,
  IConnectionInfo,
  KernelBridge
} from '../../../src/bridge/bridge';
import {
  decodeWsV1,
  encodeWsV1,
  IMessageParts,
  parseZmqFrames,
  Signer,
  toZmqFrames
} from '../../../src/bridge/codec';
import { freePort } from '../../integration/jupyter';

const KEY = 'test-key';
const V1 = 'v1.kernel.websocket.jupyter.org';

function message(
  msgType: string,
  parent: Buffer = Buffer.from('{}'),
  content: object = {}
): IMessageParts {
  return {
    header: Buffer.from(
      JSON.stringify({
        msg_id: `${msgType}-${Math.random()}`,
        msg_type: msgType
      })
    ),
    parentHeader: parent,
    metadata: Buffer.from('{}'),
    content: Buffer.from(JSON.stringify(content)),
    buffers: []
  };
}

describe('KernelBridge', () => {
  let server: WebSocketServer;
  let gateway: WebSocket;
  let fromBridge: Array<{ channel: string; parts: IMessageParts }>;
  let bridge: KernelBridge;
  let info: IConnectionInfo;
  const sockets: Array<{ close(): void }> = [];

  async function jupyterSocket<
    T extends zmq.Dealer | zmq.Subscriber | zmq.Request
  >(socket: T, port: number): Promise<T> {
    socket.connect(`tcp://127.0.0.1:${port}`);
    sockets.push(socket);
    return socket;
  }

  async function nextFromBridge(): Promise<{
    channel: string;
    parts: IMessageParts;
  }> {
    for (let i = 0; i < 200 && fromBridge.length === 0; i++) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    const next = fromBridge.shift();
    if (!next) {
      throw new Error('the gateway received nothing');
    }
    return next;
  }

  /** A websocket to the gateway's server; the server's end becomes `gateway`. */
  async function connectToGateway(): Promise<WebSocket> {
    const connected = new Promise<WebSocket>(resolve =>
      server.once('connection', resolve)
    );
    const client = new WebSocket(
      `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      [V1]
    );
    await new Promise(resolve => client.once('open', resolve));
    gateway = await connected;
    gateway.on('message', (data: Buffer) => fromBridge.push(decodeWsV1(data)));
    return client;
  }

  async function connectionInfo(): Promise<IConnectionInfo> {
    // Free ports are found one at a time: the same one can come back twice.
    const ports = new Set<number>();
    while (ports.size < 5) {
      ports.add(await freePort());
    }
    const [shell, control, stdin, iopub, hb] = ports;
    return {
      transport: 'tcp',
      ip: '127.0.0.1',
      shell_port: shell,
      control_port: control,
      stdin_port: stdin,
      iopub_port: iopub,
      hb_port: hb,
      key: KEY,
      signature_scheme: 'hmac-sha256'
    };
  }

  beforeEach(async () => {
    fromBridge = [];
    server = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: () => V1
    });
    await new Promise(resolve => server.once('listening', resolve));
    info = await connectionInfo();
    bridge = new KernelBridge(info, await connectToGateway());
    await bridge.start();
  });

  afterEach(async () => {
    bridge.close();
    sockets.splice(0).forEach(s => s.close());
    gateway.terminate();
    await new Promise(resolve => server.close(resolve));
  });

  it('relays a signed shell request to the gateway and routes the reply back to its sender', async () => {
    const shell = await jupyterSocket(
      new zmq.Dealer({ routingId: 'client-1' }),
      info.shell_port
    );
    const request = message('kernel_info_request');
    await shell.send(toZmqFrames([], request, new Signer(KEY)));

    const relayed = await nextFromBridge();
    expect(relayed.channel).toBe('shell');
    expect(relayed.parts.header.equals(request.header)).toBe(true);

    gateway.send(
      encodeWsV1(
        'shell',
        message('kernel_info_reply', request.header, { status: 'ok' })
      )
    );
    const [frames] = await Promise.all([shell.receive()]);
    const reply = parseZmqFrames(frames as Buffer[]);
    expect(JSON.parse(reply.header.toString()).msg_type).toBe(
      'kernel_info_reply'
    );
    expect(reply.parentHeader.equals(request.header)).toBe(true);
    expect(new Signer(KEY).verify(reply)).toBe(true);
  });

  it('drops a message signed with another key', async () => {
    const shell = await jupyterSocket(
      new zmq.Dealer({ routingId: 'intruder' }),
      info.shell_port
    );
    await shell.send(
      toZmqFrames([], message('execute_request'), new Signer('wrong-key'))
    );
    const good = message('kernel_info_request');
    await shell.send(toZmqFrames([], good, new Signer(KEY)));
    const first = await nextFromBridge();
    expect(first.parts.header.equals(good.header)).toBe(true);
  });

  it("sends the kernel's input_request to the client that asked on shell", async () => {
    const shell = await jupyterSocket(
      new zmq.Dealer({ routingId: 'client-2' }),
      info.shell_port
    );
    const stdin = await jupyterSocket(
      new zmq.Dealer({ routingId: 'client-2' }),
      info.stdin_port
    );
    const execute = message('execute_request', undefined, { code: 'input()' });
    await shell.send(toZmqFrames([], execute, new Signer(KEY)));
    await nextFromBridge();
    gateway.send(
      encodeWsV1(
        'stdin',
        message('input_request', execute.header, { prompt: '> ' })
      )
    );
    const got = parseZmqFrames((await stdin.receive()) as Buffer[]);
    expect(JSON.parse(got.content.toString())).toEqual({ prompt: '> ' });
  });

  it('publishes iopub messages, buffers intact', async () => {
    const iopub = await jupyterSocket(new zmq.Subscriber(), info.iopub_port);
    iopub.subscribe();
    const stream = {
      ...message('display_data'),
      buffers: [Buffer.from([1, 2, 3, 250])]
    };
    // A subscriber joins a moment after connecting: publish until it hears.
    const timer = setInterval(
      () => gateway.send(encodeWsV1('iopub', stream)),
      20
    );
    try {
      const got = parseZmqFrames((await iopub.receive()) as Buffer[]);
      expect(got.identities.map(String)).toEqual(['kernel.display_data']);
      expect(got.header.equals(stream.header)).toBe(true);
      expect(got.buffers[0].equals(Buffer.from([1, 2, 3, 250]))).toBe(true);
      expect(new Signer(KEY).verify(got)).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });

  it('publishes status under its own topic, so a subscriber can skip the output', async () => {
    const statusOnly = await jupyterSocket(
      new zmq.Subscriber(),
      info.iopub_port
    );
    statusOnly.subscribe('kernel.status');
    const timer = setInterval(() => {
      gateway.send(encodeWsV1('iopub', message('stream')));
      gateway.send(
        encodeWsV1(
          'iopub',
          message('status', undefined, { execution_state: 'idle' })
        )
      );
    }, 20);
    try {
      for (let heard = 0; heard < 3; heard++) {
        const got = parseZmqFrames((await statusOnly.receive()) as Buffer[]);
        expect(got.identities.map(String)).toEqual(['kernel.status']);
        expect(JSON.parse(got.header.toString()).msg_type).toBe('status');
      }
    } finally {
      clearInterval(timer);
    }
  });

  it('answers the heartbeat', async () => {
    const hb = await jupyterSocket(new zmq.Request(), info.hb_port);
    await hb.send('ping');
    expect((await hb.receive())[0].toString()).toBe('ping');
  });

  it('answers shutdown_request itself and ends, so the owner can delete the remote kernel', async () => {
    const control = await jupyterSocket(
      new zmq.Dealer({ routingId: 'manager' }),
      info.control_port
    );
    const request = message('shutdown_request', undefined, { restart: true });
    await control.send(toZmqFrames([], request, new Signer(KEY)));
    const reply = parseZmqFrames((await control.receive()) as Buffer[]);
    expect(JSON.parse(reply.header.toString()).msg_type).toBe('shutdown_reply');
    expect(JSON.parse(reply.content.toString())).toEqual({
      status: 'ok',
      restart: true
    });
    await expect(bridge.ended).resolves.toMatchObject({
      reason: 'shutdown',
      restart: true
    });
    expect(fromBridge).toEqual([]);
  });

  it('answers every request itself once retired: a cell gets why as its error, kernel_info what the kernel said', async () => {
    const shell = await jupyterSocket(
      new zmq.Dealer({ routingId: 'client-1' }),
      info.shell_port
    );
    const iopub = await jupyterSocket(new zmq.Subscriber(), info.iopub_port);
    iopub.subscribe();
    // The real kernel's kernel_info_reply, seen before the allocation ended.
    const ask = message('kernel_info_request');
    await shell.send(toZmqFrames([], ask, new Signer(KEY)));
    await nextFromBridge();
    gateway.send(
      encodeWsV1(
        'shell',
        message('kernel_info_reply', ask.header, {
          status: 'ok',
          language_info: { name: 'python', version: '3.11' }
        })
      )
    );
    await shell.receive();

    bridge.retire(
      'Allocation a1 (job 7 on node1) has ended: The job reached its time limit.'
    );
    const info2 = message('kernel_info_request');
    await shell.send(toZmqFrames([], info2, new Signer(KEY)));
    const infoReply = parseZmqFrames((await shell.receive()) as Buffer[]);
    expect(JSON.parse(infoReply.content.toString())).toEqual({
      status: 'ok',
      language_info: { name: 'python', version: '3.11' }
    });
    for (let cell = 0; cell < 2; cell++) {
      const execute = message('execute_request', undefined, { code: '1' });
      await shell.send(toZmqFrames([], execute, new Signer(KEY)));
      const reply = parseZmqFrames((await shell.receive()) as Buffer[]);
      expect(JSON.parse(reply.header.toString()).msg_type).toBe(
        'execute_reply'
      );
      expect(reply.parentHeader.equals(execute.header)).toBe(true);
      expect(new Signer(KEY).verify(reply)).toBe(true);
      expect(JSON.parse(reply.content.toString())).toMatchObject({
        status: 'error',
        ename: 'AllocationEnded',
        evalue: expect.stringContaining('reached its time limit'),
        // Clients wait for a count: each cell gets the next one.
        execution_count: cell + 1
      });
    }
    // Busy, the error, idle: each request's own, as a kernel publishes them.
    const published: string[] = [];
    while (published.length < 8) {
      const got = parseZmqFrames((await iopub.receive()) as Buffer[]);
      const content = JSON.parse(got.content.toString());
      published.push(
        `${JSON.parse(got.header.toString()).msg_type}:${content.execution_state ?? content.ename}`
      );
    }
    expect(published.slice(-3)).toEqual([
      'status:busy',
      'error:AllocationEnded',
      'status:idle'
    ]);
    // Nothing reached the gateway, and the bridge lives until Jupyter shuts the kernel down.
    expect(fromBridge).toEqual([]);
    const control = await jupyterSocket(
      new zmq.Dealer({ routingId: 'manager' }),
      info.control_port
    );
    await control.send(
      toZmqFrames([], message('shutdown_request'), new Signer(KEY))
    );
    await control.receive();
    await expect(bridge.ended).resolves.toMatchObject({ reason: 'shutdown' });
  });

  it('ends when the gateway closes the kernel websocket', async () => {
    gateway.close(1011, 'kernel died');
    await expect(bridge.ended).resolves.toMatchObject({
      reason: 'remote',
      message: expect.stringContaining('kernel died')
    });
  });

  /** Replaces the bridge of beforeEach with one made with these options. */
  async function bridgeWith(options: IBridgeOptions): Promise<void> {
    bridge.close();
    info = await connectionInfo();
    bridge = new KernelBridge(info, await connectToGateway(), options);
    await bridge.start();
  }

  describe('on interrupt_request', () => {
    async function interrupt(): Promise<any> {
      const control = await jupyterSocket(
        new zmq.Dealer({ routingId: 'manager' }),
        info.control_port
      );
      const request = message('interrupt_request');
      await control.send(toZmqFrames([], request, new Signer(KEY)));
      const reply = parseZmqFrames((await control.receive()) as Buffer[]);
      expect(JSON.parse(reply.header.toString()).msg_type).toBe(
        'interrupt_reply'
      );
      expect(reply.parentHeader.equals(request.header)).toBe(true);
      return JSON.parse(reply.content.toString());
    }

    it("calls the gateway's REST interrupt and answers, relaying nothing", async () => {
      let calls = 0;
      await bridgeWith({ interrupt: async () => void (calls += 1) });
      expect(await interrupt()).toEqual({ status: 'ok' });
      expect(calls).toBe(1);
      expect(fromBridge).toEqual([]);
    });

    it('answers with an error when the gateway refuses', async () => {
      await bridgeWith({
        interrupt: async () => {
          throw new Error('HTTP 500');
        }
      });
      expect(await interrupt()).toMatchObject({
        status: 'error',
        evalue: expect.stringContaining('HTTP 500')
      });
    });
  });

  describe('when the websocket is lost', () => {
    const reopeningBridge = (
      reopen: () => Promise<WebSocket>,
      reconnectForMs?: number
    ) => bridgeWith({ reopen, reconnectForMs });

    it('reopens it and delivers what Jupyter sent meanwhile', async () => {
      let noticed!: () => void;
      const lost = new Promise<void>(resolve => (noticed = resolve));
      let reconnect!: () => void;
      const gap = new Promise<void>(resolve => (reconnect = resolve));
      let losses = 0;
      await bridgeWith({
        reopen: async () => {
          noticed();
          await gap;
          return connectToGateway();
        },
        onLost: () => (losses += 1)
      });
      const shell = await jupyterSocket(
        new zmq.Dealer({ routingId: 'client-1' }),
        info.shell_port
      );
      gateway.terminate(); // the tunnel drops, without a close frame
      await lost;
      const request = message('execute_request');
      await shell.send(toZmqFrames([], request, new Signer(KEY)));
      await new Promise(resolve => setTimeout(resolve, 50));
      expect(fromBridge).toEqual([]);
      reconnect();

      const relayed = await nextFromBridge();
      expect(relayed.parts.header.equals(request.header)).toBe(true);
      gateway.send(
        encodeWsV1(
          'shell',
          message('execute_reply', request.header, { status: 'ok' })
        )
      );
      const reply = parseZmqFrames((await shell.receive()) as Buffer[]);
      expect(reply.parentHeader.equals(request.header)).toBe(true);
      expect(losses).toBe(1); // the owner heard of it once, to check on the job
    });

    it('answers what Jupyter sent meanwhile when it is retired instead (the allocation ended)', async () => {
      let noticed!: () => void;
      const lost = new Promise<void>(resolve => (noticed = resolve));
      await bridgeWith({
        reopen: async () => {
          noticed();
          return new Promise<WebSocket>(() => undefined); // the node never answers again
        }
      });
      const shell = await jupyterSocket(
        new zmq.Dealer({ routingId: 'client-1' }),
        info.shell_port
      );
      gateway.terminate();
      await lost;
      const request = message('execute_request');
      await shell.send(toZmqFrames([], request, new Signer(KEY)));
      await new Promise(resolve => setTimeout(resolve, 50));
      bridge.retire(
        'Allocation a1 (job 7 on node1) has ended: The job was cancelled.'
      );
      const reply = parseZmqFrames((await shell.receive()) as Buffer[]);
      expect(reply.parentHeader.equals(request.header)).toBe(true);
      expect(JSON.parse(reply.content.toString())).toMatchObject({
        status: 'error',
        ename: 'AllocationEnded'
      });
      expect(fromBridge).toEqual([]);
    });

    it('gives up after its time, saying why', async () => {
      let attempts = 0;
      await reopeningBridge(async () => {
        attempts += 1;
        throw new Error('connection refused');
      }, 400);
      gateway.terminate();
      await expect(bridge.ended).resolves.toMatchObject({
        reason: 'remote',
        message: expect.stringMatching(
          /closed .*reopening it failed: connection refused/
        )
      });
      expect(attempts).toBeGreaterThan(1);
    });

    it('gives up at once when the gateway no longer has the kernel', async () => {
      let attempts = 0;
      await reopeningBridge(async () => {
        attempts += 1;
        throw Object.assign(new Error('HTTP 404'), { status: 404 });
      });
      gateway.terminate();
      await expect(bridge.ended).resolves.toMatchObject({ reason: 'remote' });
      expect(attempts).toBe(1);
    });
  });

  describe('reattached by a restarted companion (no websocket yet)', () => {
    it("opens the websocket once Jupyter subscribed to iopub, so the gateway's replay is heard, and routes replies to requests it never saw", async () => {
      bridge.close();
      info = await connectionInfo();
      let opened = false;
      let attached = false;
      bridge = new KernelBridge(info, null, {
        reopen: async () => {
          opened = true;
          const ws = await connectToGateway();
          attached = true;
          return ws;
        }
      });
      const starting = bridge.start();
      await new Promise(resolve => setTimeout(resolve, 100));
      expect(opened).toBe(false); // nobody listens to the output yet
      const session = 'lab-session-1';
      const shell = await jupyterSocket(
        new zmq.Dealer({ routingId: session }),
        info.shell_port
      );
      const iopub = await jupyterSocket(new zmq.Subscriber(), info.iopub_port);
      iopub.subscribe();
      await starting;
      for (let i = 0; i < 200 && !attached; i++) {
        await new Promise(resolve => setTimeout(resolve, 10));
      }
      expect(attached).toBe(true);
      // The replay: output, then the reply to an execute_request sent to the companion before.
      const before = Buffer.from(
        JSON.stringify({
          msg_id: 'sent-before',
          session,
          msg_type: 'execute_request'
        })
      );
      await new Promise(resolve => setTimeout(resolve, 100));
      gateway.send(
        encodeWsV1('iopub', message('stream', before, { text: 'tick' }))
      );
      gateway.send(
        encodeWsV1('shell', message('execute_reply', before, { status: 'ok' }))
      );
      const output = parseZmqFrames((await iopub.receive()) as Buffer[]);
      expect(JSON.parse(output.content.toString())).toEqual({ text: 'tick' });
      const reply = parseZmqFrames((await shell.receive()) as Buffer[]);
      expect(reply.parentHeader.equals(before)).toBe(true);
    });

    it('opens the websocket at once where no Jupyter client took the output before (a count of 0)', async () => {
      bridge.close();
      info = await connectionInfo();
      let opened = false;
      bridge = new KernelBridge(info, null, {
        subscribers: 0,
        reopen: async () => {
          const ws = await connectToGateway();
          opened = true;
          return ws;
        }
      });
      const started = Date.now();
      await bridge.start();
      await waitUntil(() => opened);
      // Nobody subscribes here: read as "unknown", the count would wait 10 s for a first one.
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('waits for as many subscribers as the companion before had, then opens the websocket at once', async () => {
      bridge.close();
      info = await connectionInfo();
      let opened = false;
      bridge = new KernelBridge(info, null, {
        subscribers: 2,
        reopen: async () => {
          opened = true;
          return connectToGateway();
        }
      });
      const counts: number[] = [];
      bridge.watchSubscribers(count => counts.push(count));
      const starting = bridge.start();
      // The activity watcher comes back first; the websocket's own subscriber, which takes the
      // output, comes later: the replay waits for it.
      const watcher = await jupyterSocket(
        new zmq.Subscriber(),
        info.iopub_port
      );
      watcher.subscribe();
      await waitUntil(() => counts.includes(1));
      await new Promise(resolve => setTimeout(resolve, 1_500));
      expect(opened).toBe(false);
      const output = await jupyterSocket(new zmq.Subscriber(), info.iopub_port);
      output.subscribe();
      const asked = Date.now();
      await starting;
      await waitUntil(() => opened);
      expect(Date.now() - asked).toBeLessThan(900); // not the 1 s kept where the count is unknown
      expect(bridge.subscribers).toBe(2);
      watcher.close(); // a subscriber that goes away is counted out
      await waitUntil(() => bridge.subscribers === 1);
      expect(counts).toEqual([1, 2, 1]);
      output.close();
    });
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(condition()).toBe(true);
}
