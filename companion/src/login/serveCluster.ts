/**
 * `slurm-kernels serve --cluster ALIAS`: the companion beside a lab on a laptop, driving one
 * cluster over one login (an alias of the user's ssh config, or [user@]host). It answers at
 * once on its socket: the readiness probe, the login's questions (GET/POST /api/logins) while
 * the login waits on the person; everything else once logged in (503 with why, where the login
 * failed; the next request tries again). Slurm runs on the login node, the state and the jobs'
 * files live on the cluster's file system (its ~/.local/state/slurm-kernels, as a companion on
 * the login node keeps them, so both list the same allocations), kernelspecs on the laptop.
 */
import express from 'express';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Gateway } from '../allocations/gateway';
import { AllocationManager } from '../allocations/manager';
import { createApp, listenOnSocket } from '../http/app';
import { openEventStream } from '../http/events';
import { KernelspecWriter } from '../kernelspecs/writer';
import { createLogger } from '../log';
import { CachedCluster } from '../routes/cluster';
import { loginsRouter } from '../routes/logins';
import { jobPolicy, shimArgv, waitForSocket } from '../serve';
import { LocalRunner } from '../slurm';
import { hostConfig, jumpHostConfig } from '../tunnel/hostConfig';
import { SrunRelay } from '../tunnel/srunRelay';
import { NodeTransports, transportModeFrom } from '../tunnel/transport';
import { LoginLink } from './link';
import { nodesThroughLogin } from './nodes';
import { followLogins, LoginQuestions } from './questions';
import { RemoteFiles } from './remoteFiles';
import { RemoteRunner } from './remoteRunner';

export async function serveCluster(
  socketPath: string,
  version: string,
  alias: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<void> {
  const log = createLogger();
  await waitForSocket(socketPath, log);
  // The laptop's own ssh config (SLURM_KERNELS_SSH_CONFIG replaces ~/.ssh/config, as ssh -F).
  const sshConfig = {
    runner: new LocalRunner(env),
    configFile: env.SLURM_KERNELS_SSH_CONFIG
  };
  const login = () => hostConfig(alias, sshConfig);
  const { user } = await login();
  const questions = new LoginQuestions();
  const link = new LoginLink({
    cluster: alias,
    hostConfig: login,
    jumpHostConfig: hop => jumpHostConfig(hop, sshConfig),
    prompts: questions
  });
  link.onState(state => log.info({ cluster: alias, state }, 'login'));
  const runner = new RemoteRunner(link);
  const files = new RemoteFiles(link);
  const transports = new NodeTransports({
    ssh: nodesThroughLogin({ link, login }),
    srun: new SrunRelay({ runner, commands: runner }),
    mode: transportModeFrom(env, {})
  });
  const gateway = new Gateway({
    transports,
    kernelspecs: new KernelspecWriter({ shimArgv: shimArgv(socketPath) }),
    log,
    files,
    clusterHome: () => files.home()
  });
  const cluster = new CachedCluster(runner, undefined, undefined, {}, user);

  let manager: AllocationManager | undefined;
  let ready: Promise<express.Express> | undefined;
  /** The whole API, once logged in. */
  let full: express.Express | undefined;
  /** Logs in and builds the whole API on that login. */
  const logIn = async (): Promise<express.Express> => {
    const home = await files.home();
    manager = new AllocationManager({
      runner,
      cluster,
      stateDir:
        env.SLURM_KERNELS_CLUSTER_STATE_DIR ||
        path.posix.join(home, '.local', 'state', 'slurm-kernels'),
      gateway,
      log,
      files,
      home,
      user,
      jobPolicy: jobPolicy(env, {}),
      clusterUnreachable: () => link.unreachable
    });
    await manager.init();
    full = createApp({
      cluster,
      allocations: manager,
      gateway,
      logins: questions,
      log,
      version
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
          { cluster: alias, err: (err as Error).message },
          'login failed'
        );
        if (ready === attempt) {
          ready = undefined;
        }
      });
    }
    return ready;
  };

  const front = express();
  front.disable('x-powered-by');
  front.use(express.json({ limit: '256kb' }));
  // jupyter-server-proxy probes "/" until the companion answers: before any login.
  front.get('/', (_req, res) => {
    res.json({
      name: 'jupyterlab-slurm-kernels companion',
      version,
      cluster: alias
    });
  });
  front.get('/api', (_req, res) => {
    res.json({ version, pid: process.pid, cluster: alias, login: link.state });
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
          message: `${alias}: ${(err as Error).message}`
        })
    );
  });
  // Logs in at once: the question is there when the lab opens.
  void loggedIn().catch(() => undefined);
  // Created private when missing; a directory given by the caller (e.g. a 0700 temp dir) is theirs.
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const listening = await listenOnSocket(front, socketPath);
  log.info(
    { socket: socketPath, version, cluster: alias },
    'companion listening'
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'companion stopping');
    transports.dispose();
    void Promise.all([manager?.dispose(), listening.close()]).then(() => {
      link.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
