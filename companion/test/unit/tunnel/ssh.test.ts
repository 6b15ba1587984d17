import net from 'node:net';
import { KnownHosts } from '../../../src/tunnel/knownHosts';
import { SshPool, TunnelError } from '../../../src/tunnel/ssh';

/** A loopback port nothing listens on: connecting is refused at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

describe('SshPool reconnecting to a host that fails', () => {
  let pool: SshPool;
  afterEach(() => pool.dispose());

  it('retries at once after one failure, then waits longer each time', async () => {
    pool = new SshPool({
      port: await closedPort(),
      keyFiles: [],
      knownHosts: async () => new KnownHosts([]),
      backoff: { initialMs: 400, jitter: 0 }
    });
    const attempt = async () => {
      const started = Date.now();
      const err = await pool.forward('127.0.0.1', '127.0.0.1', 1).catch(e => e);
      expect(err).toBeInstanceOf(TunnelError);
      expect(err.kind).toBe('connect');
      // Each attempt really connects (the first one too), and is refused.
      expect(err.message).toMatch(/ECONNREFUSED/);
      return Date.now() - started;
    };
    expect(await attempt()).toBeLessThan(250);
    expect(await attempt()).toBeLessThan(250);
    // The wait counts from the failure, a moment before the next attempt starts: margins, not 400/800.
    expect(await attempt()).toBeGreaterThanOrEqual(300);
    expect(await attempt()).toBeGreaterThanOrEqual(700);
  });
});
