/**
 * The gateway client's REST connections, against a local HTTP server standing in for the gateway:
 * through srun each connection is a job step, so the client must keep and reuse a bounded few.
 */
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { GatewayClient } from '../../../src/gateway/client';

describe('GatewayClient connections', () => {
  let server: http.Server;
  let port: number;
  let opened: net.Socket[];

  beforeEach(async () => {
    opened = [];
    server = http.createServer((req, res) => {
      const reply = () => {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ version: '2.21.1', path: req.url }));
      };
      // Slow enough that parallel requests overlap.
      setTimeout(reply, 20);
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
  });

  function client(connections: number): GatewayClient {
    return new GatewayClient(
      () =>
        new Promise<Duplex>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
          socket.once('error', reject);
          opened.push(socket);
        }),
      'token',
      { connections }
    );
  }

  it('opens no more connections than it is given, however many requests run at once', async () => {
    const gateway = client(2);
    const versions = await Promise.all(
      Array.from({ length: 12 }, () => gateway.version())
    );
    expect(versions).toEqual(Array(12).fill('2.21.1'));
    expect(opened).toHaveLength(2);
    // Later requests reuse them.
    await gateway.version();
    await gateway.kernels();
    expect(opened).toHaveLength(2);
    expect(opened.every(s => !s.destroyed)).toBe(true);
    gateway.dispose();
  });

  it('sends a GET again on a new connection when the kept one was closed', async () => {
    const gateway = client(1);
    await gateway.version();
    expect(opened).toHaveLength(1);
    // The gateway side drops the idle connection; the client learns it only by using it.
    server.closeAllConnections();
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(await gateway.version()).toBe('2.21.1');
    expect(opened).toHaveLength(2);
    gateway.dispose();
  });
});

describe('GatewayClient kernel websocket', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let port: number;

  beforeEach(async () => {
    server = http.createServer();
    // A gateway restoring a session: it replays its buffer the moment the handshake is done.
    wss = new WebSocketServer({ server });
    wss.on('connection', ws => {
      for (let i = 0; i < 50; i++) {
        ws.send(Buffer.from(`replayed ${i}`));
      }
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    // Upgraded connections are the websocket server's, not the HTTP server's.
    wss.clients.forEach(client => client.terminate());
    wss.close();
    await new Promise(resolve => server.close(resolve));
  });

  it('holds what the gateway sends at once until its consumer listens and resumes it', async () => {
    const gateway = new GatewayClient(
      () =>
        new Promise<Duplex>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
          socket.once('error', reject);
        }),
      'token'
    );
    const ws = await gateway.channels('kernel', 'session');
    try {
      // The consumer is busy for a while before it listens (a bridge binding its ports).
      await new Promise(resolve => setTimeout(resolve, 100));
      const heard: string[] = [];
      ws.on('message', (data: Buffer) => heard.push(data.toString()));
      ws.resume();
      await new Promise(resolve => setTimeout(resolve, 100));
      expect(heard).toEqual(
        Array.from({ length: 50 }, (_, i) => `replayed ${i}`)
      );
    } finally {
      ws.close();
      gateway.dispose();
    }
  });
});
