/**
 * `slurm-kernels serve`: the companion itself, on a 0600 unix socket.
 */
import path from 'node:path';
import { Gateway } from './allocations/gateway';
import { AllocationManager } from './allocations/manager';
import { createApp, listenOnSocket } from './http/app';
import { KernelspecWriter } from './kernelspecs/writer';
import { createLogger } from './log';
import { CachedCluster } from './routes/cluster';
import { LocalRunner } from './slurm';
import { defaultStateDir, ensurePrivateDir } from './state/files';
import { SshPool } from './tunnel/ssh';

export async function serve(
  socketPath: string,
  version: string
): Promise<void> {
  const log = createLogger();
  const runner = new LocalRunner();
  const cluster = new CachedCluster(runner);
  const tunnels = new SshPool();
  const kernelspecs = new KernelspecWriter({
    shimArgv: [
      process.execPath,
      path.join(__dirname, 'shim', 'main.js'),
      '--socket',
      path.resolve(socketPath)
    ]
  });
  const gateway = new Gateway({ tunnels, kernelspecs, log });
  const allocations = new AllocationManager({
    runner,
    cluster,
    stateDir: defaultStateDir(),
    gateway,
    log
  });
  await allocations.init();
  await ensurePrivateDir(path.dirname(socketPath));
  const app = createApp({ cluster, allocations, gateway, log, version });
  const listening = await listenOnSocket(app, socketPath);
  log.info({ socket: socketPath, version }, 'companion listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'companion stopping');
    allocations.dispose();
    tunnels.dispose();
    void listening.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
