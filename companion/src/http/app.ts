/**
 * The companion's HTTP server: an express app listening on a 0600 unix socket. Jupyter Server
 * reaches it through jupyter-server-proxy, so every request the browser makes is authenticated by
 * Jupyter itself; nobody else on the login node can connect.
 */
import express from 'express';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net, { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Gateway } from '../allocations/gateway';
import type { AllocationManager } from '../allocations/manager';
import { allocationsRouter } from '../routes/allocations';
import { clusterRouter, IClusterSource } from '../routes/cluster';
import { kernelsRouter } from '../routes/kernels';
import { loginsRouter } from '../routes/logins';
import { LoginQuestions } from '../login/questions';
import type { IPresets } from '../presets';
import { presetsRouter } from '../routes/presets';
import { errorHandler, notFound } from './errors';

export interface IAppOptions {
  cluster: IClusterSource;
  /** Absent in tests that only exercise cluster discovery. */
  allocations?: AllocationManager;
  gateway?: Gateway;
  /** What logins to a cluster ask the person (laptop mode); none are asked on a login node. */
  logins?: LoginQuestions;
  log: Logger;
  version: string;
  /** The presets the form offers: this host's files by default; a laptop's, its cluster's. */
  presets?: () => Promise<IPresets>;
}

/**
 * An express app as every part of the companion starts one: JSON bodies (small), no
 * x-powered-by, and the readiness probe jupyter-server-proxy sends to "/" until it answers.
 */
export function companionApp(
  version: string,
  about: () => object = () => ({})
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '256kb' }));
  app.get('/', (_req, res) => {
    res.json({
      name: 'jupyterlab-slurm-kernels companion',
      version,
      ...about()
    });
  });
  return app;
}

export function createApp(options: IAppOptions): express.Express {
  const app = companionApp(options.version);
  app.get('/api', (_req, res) => {
    // The pid: a companion started on demand (by the CLI or a kernel's shim) can be found and stopped.
    res.json({ version: options.version, pid: process.pid });
  });
  app.use(clusterRouter(options.cluster));
  const logins = options.logins ?? new LoginQuestions();
  app.use(loginsRouter(logins));
  if (options.allocations) {
    app.use(presetsRouter(options.presets));
    app.use(allocationsRouter(options.allocations, logins));
    if (options.gateway) {
      app.use(kernelsRouter(options.gateway, options.allocations));
    }
  }
  app.use(notFound);
  app.use(errorHandler(options.log));
  return app;
}

/**
 * A listening server and a close() that cannot hang on open keep-alive connections.
 */
export interface IListening {
  server: http.Server;
  /** Connections open now: kernel shims, the lab's proxy, a CLI call. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Listens on a unix socket only its owner can use (0600).
 *
 * #### Notes
 * The umask is narrowed while binding so the socket is never, even briefly, open to others;
 * a stale socket file from a crashed run is removed first, a live companion's never.
 */
export async function listenOnSocket(
  app: express.Express,
  socketPath: string
): Promise<IListening> {
  if (await socketAnswers(socketPath)) {
    throw new Error(`another companion is already serving on ${socketPath}`);
  }
  await fs.rm(socketPath, { force: true });
  const server = http.createServer(app);
  const sockets = new Set<Socket>();
  server.on('connection', socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  await fs.chmod(socketPath, 0o600);
  return {
    server,
    get connections() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve());
        for (const socket of sockets) {
          socket.destroy();
        }
      })
  };
}

/** Whether something accepts connections on the socket (a stale file from a crash does not). */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise(resolve => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
