/**
 * `slurm-kernels serve`: the companion itself, on a 0600 unix socket.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_STARTUP_LIMITS,
  Gateway,
  IStartupLimits
} from './allocations/gateway';
import { AllocationManager } from './allocations/manager';
import { DEFAULT_JOB_POLICY, IJobPolicy } from './gateway/jobScript';
import {
  createApp,
  IListening,
  listenOnSocket,
  socketAnswers
} from './http/app';
import { KernelspecWriter, readOurKernelspec } from './kernelspecs/writer';
import type { SiteConfig } from '../../src/api/site';
import {
  ClusterEntry,
  clusterNameFor,
  LOCAL_CLUSTER
} from '../../src/api/clusters';
import { checkAlias } from './clusters/aliasCheck';
import { ClusterHub, IClusterService } from './clusters/hub';
import { ClusterRegistry } from './clusters/registry';
import { laptopSshConfig, openRemoteCluster } from './login/remoteCluster';
import { createLogger } from './log';
import { SHIM_SCRIPT } from './paths';
import { CachedCluster } from './routes/cluster';
import { loadSiteConfig } from './site';
import { LocalRunner } from './slurm';
import { defaultSocketPath, defaultStateDir } from './state/files';
import { companionHostConfig } from './tunnel/hostConfig';
import { OpenSshForwards } from './tunnel/openssh';
import { srunNodelayEnv } from './tunnel/srunNodelay';
import { SrunRelay } from './tunnel/srunRelay';
import { SshPool } from './tunnel/ssh';
import { NodeTransports, transportModeFrom } from './tunnel/transport';

export interface IServeOptions {
  /** Exit when another companion serves, rather than stand by (on-demand starts). */
  unlessServed?: boolean;
  /** A lab on a laptop: drive this cluster (an ssh config alias, or user@host) as the default. */
  cluster?: string;
}

export async function serve(
  socketPath: string,
  version: string,
  { unlessServed = false, cluster }: IServeOptions = {}
): Promise<void> {
  const log = createLogger();
  if (unlessServed && (await socketAnswers(socketPath))) {
    log.info({ socket: socketPath }, 'another companion serves this user');
    return;
  }
  await waitForSocket(socketPath, log);
  const argv = shimArgv(socketPath);
  const kernelsDir = new KernelspecWriter({ shimArgv: argv }).kernelsDir;
  const open = (entry: ClusterEntry) =>
    openRemoteCluster({ entry, shimArgv: argv, version, log });
  const hub = new ClusterHub({
    version,
    log,
    registry: new ClusterRegistry(),
    open,
    checkAlias: alias => checkAlias(alias, laptopSshConfig()),
    clusterOfKernelspec: async spec =>
      (await readOurKernelspec(kernelsDir, spec))?.cluster,
    forgetKernelspecs: async name => {
      await new KernelspecWriter({ shimArgv: argv, cluster: name }).sweep(
        new Set()
      );
    }
  });
  if (cluster) {
    hub.serve(open({ name: clusterNameFor(cluster), alias: cluster }));
  } else if (await hasLocalSlurm()) {
    // A broken site configuration stops the companion with the file and the field at fault.
    hub.serve(await localCluster(argv, log, version));
  }
  // The clusters added from earlier labs; a broken list is said in the log, and the rest serves.
  await hub
    .openSaved()
    .catch(err =>
      log.error({ err: (err as Error).message }, 'saved clusters not opened')
    );
  // Created private when missing; a directory given by the caller (e.g. a 0700 temp dir) is theirs.
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const listening = await listenOnSocket(hub.app(), socketPath);
  log.info(
    {
      socket: socketPath,
      version,
      node: process.execPath,
      clusters: hub.services.map(s => s.name)
    },
    'companion listening'
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'companion stopping');
    void Promise.all([hub.dispose(), listening.close()]).then(() =>
      process.exit(0)
    );
  };
  if (unlessServed) {
    stopWhenIdle(listening, hub, () => stop('idle'));
  }
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * Whether this host has a Slurm of its own to serve as the `local` cluster: Slurm's commands on
 * PATH and a configuration they read (SLURM_CONF, the usual places, the copy a configless login
 * node keeps), or, configless, a controller `scontrol ping` finds. SLURM_KERNELS_LOCAL_SLURM=yes|no
 * decides instead (a laptop with Slurm's client installed for another cluster).
 */
async function hasLocalSlurm(env = process.env): Promise<boolean> {
  const said = env.SLURM_KERNELS_LOCAL_SLURM;
  if (said === 'yes' || said === 'no') {
    return said === 'yes';
  }
  const exists = (file: string) =>
    fs.access(file).then(
      () => true,
      () => false
    );
  const onPath = await Promise.all(
    (env.PATH ?? '').split(':').map(dir => exists(path.join(dir, 'sinfo')))
  );
  if (!onPath.some(Boolean)) {
    return false;
  }
  const configs = [
    env.SLURM_CONF,
    '/etc/slurm/slurm.conf',
    '/etc/slurm-llnl/slurm.conf',
    '/usr/local/etc/slurm.conf',
    '/run/slurm/conf/slurm.conf',
    '/var/spool/slurmd/conf-cache/slurm.conf'
  ].filter((f): f is string => !!f);
  if ((await Promise.all(configs.map(exists))).some(Boolean)) {
    return true;
  }
  // Configless (found through DNS SRV records): Slurm itself says whether it has a controller.
  const ping = await new LocalRunner(env)
    .run(['scontrol', 'ping'], { timeoutMs: 10_000 })
    .catch(() => undefined);
  return ping?.code === 0;
}

/** The login node's own Slurm, run here as the user: the login-node deployment. */
async function localCluster(
  shimArgv: string[],
  log: ReturnType<typeof createLogger>,
  version: string
): Promise<IClusterService> {
  const site = await loadSiteConfig();
  const runner = new LocalRunner();
  const cluster = new CachedCluster(runner, undefined, undefined, site);
  const hostConfig = companionHostConfig(runner);
  const transports = new NodeTransports({
    ssh: new SshPool({ hostConfig }),
    openssh: new OpenSshForwards({
      runner,
      hostConfig,
      configFile: process.env.SLURM_KERNELS_SSH_CONFIG
    }),
    srun: new SrunRelay({
      runner,
      commands: runner,
      srunEnv: srunNodelayEnv({ runner, log })
    }),
    mode: transportModeFrom(process.env, site)
  });
  const kernelspecs = new KernelspecWriter({ shimArgv });
  const gateway = new Gateway({ transports, kernelspecs, log });
  const allocations = new AllocationManager({
    runner,
    cluster,
    stateDir: defaultStateDir(),
    gateway,
    log,
    gatewayStartup: startupLimits(process.env, site),
    defaults: site.defaults,
    ...pollIntervals(process.env),
    jobPolicy: jobPolicy(process.env, site),
    sitePolicy: {
      idleMinutes: site.idleCancelMinutes,
      noKernelMinutes: site.noKernelCancelMinutes,
      gpuIdleCancelMinutes: site.gpuIdleCancelMinutes
    }
  });
  await allocations.init();
  const app = createApp({ cluster, allocations, gateway, log, version });
  log.info({ nodeTransport: transports.mode }, 'local cluster');
  return {
    name: LOCAL_CLUSTER,
    alias: null,
    login: 'local',
    get hasActive() {
      return allocations.hasActive;
    },
    handle: (req, res, next) => app(req, res, next),
    dispose: async () => {
      transports.dispose();
      await allocations.dispose();
    }
  };
}

/**
 * A companion started on demand (by a kernel shim or the CLI) stops once it has nothing to do: no
 * allocation that is not over, and nobody connected (no kernel's shim, no lab, no CLI call), for
 * ON_DEMAND_IDLE_MS. The next shim or CLI call starts another; on a shared login node it must not
 * stay for good (a shim that restarted it while its Jupyter Server was shutting down leaves it).
 */
function stopWhenIdle(
  listening: IListening,
  hub: ClusterHub,
  stop: () => void
): void {
  let idleSince: number | null = null;
  const timer = setInterval(() => {
    const idle = listening.connections === 0 && !hub.hasActive;
    idleSince = idle ? (idleSince ?? Date.now()) : null;
    if (idleSince !== null && Date.now() - idleSince >= ON_DEMAND_IDLE_MS) {
      clearInterval(timer);
      stop();
    }
  }, 1_000);
  timer.unref();
}

/** How long a companion started on demand waits with nothing to do before it stops. */
const ON_DEMAND_IDLE_MS = 10_000;

/**
 * One companion per user: while another one serves this socket (a second JupyterLab of the same user
 * starts its own through jupyter-server-proxy), this one waits, and takes over when that one stops.
 * Requests meanwhile reach the one that serves, through the same socket.
 */
export async function waitForSocket(
  socketPath: string,
  log: ReturnType<typeof createLogger>
): Promise<void> {
  let told = false;
  while (await socketAnswers(socketPath)) {
    if (!told) {
      log.info(
        { socket: socketPath },
        'another companion serves this user; standing by'
      );
      told = true;
    }
    await new Promise(resolve => setTimeout(resolve, 2_000));
  }
}

/**
 * How long a starting job may stay silent, and take in all, in seconds: the site's `startup`, which
 * SLURM_KERNELS_STARTUP_SILENCE_S and SLURM_KERNELS_STARTUP_MAX_S override (tests shorten waits so);
 * by default 120 and 1200.
 */
export function startupLimits(
  env: NodeJS.ProcessEnv,
  site: SiteConfig
): IStartupLimits {
  return {
    silenceMs:
      1000 *
      seconds(
        'SLURM_KERNELS_STARTUP_SILENCE_S',
        site.startup?.silenceSeconds,
        DEFAULT_STARTUP_LIMITS.silenceMs / 1000,
        env
      ),
    totalMs:
      1000 *
      seconds(
        'SLURM_KERNELS_STARTUP_MAX_S',
        site.startup?.maxSeconds,
        DEFAULT_STARTUP_LIMITS.totalMs / 1000,
        env
      )
  };
}

/** A duration in seconds: the environment variable `name` where set, else the site's, else `fallback`. */
function seconds(
  name: string,
  configured: number | undefined,
  fallback: number,
  env: NodeJS.ProcessEnv
): number {
  const value = Number(env[name]);
  return Number.isFinite(value) && value > 0 ? value : configured || fallback;
}

/**
 * What the jobs do on their own. The dead-man's switch, in seconds without a companion:
 * SLURM_KERNELS_DEAD_MAN_S, else the site's `deadManMinutes`, else 30 minutes. The GPU sampler's
 * interval: SLURM_KERNELS_GPU_SAMPLE_S, else the site's `gpuSampleSeconds`, else 5 s.
 */
export function jobPolicy(
  env: NodeJS.ProcessEnv,
  site: SiteConfig
): IJobPolicy {
  return {
    deadManSeconds: seconds(
      'SLURM_KERNELS_DEAD_MAN_S',
      site.deadManMinutes && site.deadManMinutes * 60,
      DEFAULT_JOB_POLICY.deadManSeconds,
      env
    ),
    gpuSampleMs:
      1000 *
      seconds(
        'SLURM_KERNELS_GPU_SAMPLE_S',
        site.gpuSampleSeconds,
        DEFAULT_JOB_POLICY.gpuSampleMs / 1000,
        env
      )
  };
}

/**
 * How often Slurm is asked about ready and pending allocations, in seconds: SLURM_KERNELS_POLL_S
 * (ready, 120 by default) and SLURM_KERNELS_PENDING_POLL_S (90). Fault tests shorten them; a site
 * under load could lengthen them.
 */
function pollIntervals(env: NodeJS.ProcessEnv): {
  slowPollMs?: number;
  pendingPollMs?: number;
} {
  const ms = (name: string) => {
    const seconds = Number(env[name]);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
  };
  return {
    slowPollMs: ms('SLURM_KERNELS_POLL_S'),
    pendingPollMs: ms('SLURM_KERNELS_PENDING_POLL_S')
  };
}

/**
 * The argv that kernelspecs run. On the default socket the shim finds its host's own companion the
 * same way, so a kernelspec written to a shared home by one login node starts on any other.
 */
export function shimArgv(socketPath: string): string[] {
  const argv = [process.execPath, SHIM_SCRIPT];
  return path.resolve(socketPath) === path.resolve(defaultSocketPath())
    ? argv
    : [...argv, '--socket', path.resolve(socketPath)];
}
