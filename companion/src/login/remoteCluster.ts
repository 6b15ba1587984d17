/**
 * A cluster a lab on a laptop drives over one login (an alias of the user's ssh config, or
 * [user@]host). It answers at once: the login's questions (GET/POST /api/logins, and its event
 * stream) while the login waits on the person; everything else once logged in (503 with why,
 * where the login failed; the next request tries again). Slurm runs on the login node, the state
 * and the jobs' files live on the cluster's file system (its ~/.local/state/slurm-kernels, as a
 * companion on the login node keeps them, so both list the same allocations), kernelspecs on the
 * laptop, named for the cluster.
 */
import express, { NextFunction, Request, Response } from 'express';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ClusterEntry } from '../../../src/api/clusters';
import { Gateway } from '../allocations/gateway';
import { AllocationManager } from '../allocations/manager';
import type { IClusterService } from '../clusters/hub';
import { companionApp, createApp } from '../http/app';
import { openEventStream } from '../http/events';
import { KernelspecWriter } from '../kernelspecs/writer';
import { CachedCluster } from '../routes/cluster';
import { loginsRouter } from '../routes/logins';
import { loadPresets, presetFiles } from '../presets';
import { jobPolicy, startupLimits } from '../serve';
import { DEFAULT_SITE_CONFIG, loadSiteConfig } from '../site';
import { LocalRunner } from '../slurm';
import { hostConfig, jumpHostConfig } from '../tunnel/hostConfig';
import { SrunRelay } from '../tunnel/srunRelay';
import { NodeTransports, transportModeFrom } from '../tunnel/transport';
import { LoginLink } from './link';
import { nodesThroughLogin } from './nodes';
import { followLogins, LoginQuestions } from './questions';
import { RemoteFiles } from './remoteFiles';
import { RemoteRunner } from './remoteRunner';

export interface IRemoteClusterOptions {
  entry: ClusterEntry;
  /** The argv prefix its kernelspecs run (the shim, on this companion's socket). */
  shimArgv: string[];
  version: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

/** The laptop's own ssh config (SLURM_KERNELS_SSH_CONFIG replaces ~/.ssh/config, as ssh -F). */
export function laptopSshConfig(env: NodeJS.ProcessEnv = process.env) {
  return {
    runner: new LocalRunner(env),
    configFile: env.SLURM_KERNELS_SSH_CONFIG
  };
}

/** Opens a cluster: logs in at once, so its first question is there when the lab opens. */
export function openRemoteCluster(o: IRemoteClusterOptions): IClusterService {
  const { entry, log, version } = o;
  const env = o.env ?? process.env;
  const alias = entry.alias;
  const sshConfig = laptopSshConfig(env);
  const login = () => hostConfig(alias, sshConfig);
  const questions = new LoginQuestions();
  const link = new LoginLink({
    cluster: entry.name,
    hostConfig: login,
    jumpHostConfig: hop => jumpHostConfig(hop, sshConfig),
    prompts: questions
  });
  link.onState(state => log.info({ cluster: entry.name, state }, 'login'));
  const runner = new RemoteRunner(link);
  const files = new RemoteFiles(link);
  const transports = new NodeTransports({
    ssh: nodesThroughLogin({ link, login }),
    srun: new SrunRelay({ runner, commands: runner }),
    mode: transportModeFrom(env, {})
  });
  const gateway = new Gateway({
    transports,
    kernelspecs: new KernelspecWriter({
      shimArgv: o.shimArgv,
      cluster: entry.name
    }),
    log,
    files,
    clusterHome: () => files.home()
  });

  let manager: AllocationManager | undefined;
  /** Taken out of the lab: a login still under way builds nothing more. */
  let disposed = false;
  let ready: Promise<express.Express> | undefined;
  /** The whole API, once logged in. */
  let full: express.Express | undefined;
  /** Logs in and builds the whole API on that login. */
  const logIn = async (): Promise<express.Express> => {
    const { user } = await login();
    const home = await files.home();
    // The cluster's own policy and presets, read there: a laptop follows its cluster's site.
    const readThere = (file: string) => files.readText(file);
    const site = await loadSiteConfig(DEFAULT_SITE_CONFIG, readThere);
    const cluster = new CachedCluster(runner, undefined, undefined, site, user);
    manager = new AllocationManager({
      runner,
      cluster,
      stateDir:
        entry.stateDir ||
        env.SLURM_KERNELS_CLUSTER_STATE_DIR ||
        path.posix.join(home, '.local', 'state', 'slurm-kernels'),
      gateway,
      log,
      files,
      home,
      user,
      gatewayStartup: startupLimits(env, site),
      defaults: site.defaults,
      jobPolicy: jobPolicy(env, site),
      sitePolicy: {
        idleMinutes: site.idleCancelMinutes,
        noKernelMinutes: site.noKernelCancelMinutes,
        gpuIdleCancelMinutes: site.gpuIdleCancelMinutes
      },
      clusterUnreachable: () => link.unreachable
    });
    await manager.init();
    if (disposed) {
      await manager.dispose();
      throw new Error('taken out of the lab');
    }
    full = createApp({
      cluster,
      allocations: manager,
      gateway,
      logins: questions,
      log,
      version,
      presets: () => loadPresets(presetFiles(env), async () => site, readThere)
    });
    return full;
  };
  // One attempt at a time; a failed one is forgotten (once), so the next request tries again.
  const loggedIn = (): Promise<express.Express> => {
    if (!ready) {
      const attempt = logIn();
      ready = attempt;
      attempt.catch(err => {
        log.warn(
          { cluster: entry.name, err: (err as Error).message },
          'login failed'
        );
        if (ready === attempt) {
          ready = undefined;
        }
      });
    }
    return ready;
  };

  // Answers before any login: the probe, the login's state and its questions.
  const front = companionApp(version, () => ({ cluster: entry.name }));
  front.get('/api', (_req, res) => {
    res.json({
      version,
      pid: process.pid,
      cluster: entry.name,
      login: link.state
    });
  });
  front.use(loginsRouter(questions));
  // Before the login, the events are the login's questions; the stream ends once logged in, and
  // the browser's EventSource comes back (in half a second) to the whole API's stream.
  front.get('/api/events', (req, res, next) => {
    if (full) {
      full(req, res, next);
      return;
    }
    const events = openEventStream(res, 500);
    events.onClose(followLogins(questions, events));
    events.send('hello', { allocations: [], logins: questions.pending });
    loggedIn().then(
      () => events.end(),
      () => undefined // still asking: a new login starts with the next request
    );
  });
  front.use((req, res, next) => {
    loggedIn().then(
      app => app(req, res, next),
      err =>
        res.status(503).json({
          error: 'cluster_unreachable',
          message: `${entry.name}: ${(err as Error).message}`
        })
    );
  });
  // Logs in at once: the question is there when the lab opens.
  void loggedIn().catch(() => undefined);
  return {
    name: entry.name,
    alias,
    get login() {
      return link.state;
    },
    get hasActive() {
      return manager?.hasActive ?? false;
    },
    handle: (req: Request, res: Response, next: NextFunction) =>
      front(req, res, next),
    dispose: async () => {
      disposed = true;
      transports.dispose();
      await manager?.dispose();
      link.close();
    }
  };
}
