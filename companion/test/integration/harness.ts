/**
 * Runs the built companion and its CLI as the test user, in an isolated set of directories under the
 * shared home (state, Jupyter data/config/runtime, IPython), so tests never touch the user's own.
 */
import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { GatewayClient } from '../../src/gateway/client';
import { defaultSocketPath } from '../../src/state/files';
import type { SshPool } from '../../src/tunnel/ssh';
import { LAB_ENV } from './jupyter';
import { cancelLeftoverJobs, LAPTOP, waitFor } from './testbed';

export const MAIN =
  process.env.SLURM_KERNELS_MAIN ??
  path.join(__dirname, '../../dist/companion/src/main.js');

/** An installed `slurm-kernels` console script to run instead of `node MAIN` (dev/test-wheel.sh). */
export const CLI = process.env.SLURM_KERNELS_CLI;

/** How the companion's command line is run: the console script, else Node with MAIN. */
function slurmKernels(args: string[]): [string, string[]] {
  return CLI ? [CLI, args] : [process.execPath, [MAIN, ...args]];
}

export interface IHarnessOptions {
  /**
   * The companion runs on the testbed's laptop (its network reaches the login node's sshd only,
   * its home is its own): the harness's files (state, kernelspecs, socket) are in /tmp, which
   * the laptop shares, and `clusterDir` is a directory of the test's own in the cluster's home,
   * where the laptop sees nothing.
   */
  laptop?: boolean;
}

export interface ICliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Harness {
  constructor(readonly options: IHarnessOptions = {}) {
    this.dir = mkdtempSync(
      options.laptop
        ? path.join(os.tmpdir(), 'sk-laptop-')
        : path.join(os.homedir(), '.sk-itest-')
    );
    this.env = Harness._environment(this.dir);
    if (options.laptop) {
      this.clusterDir = mkdtempSync(path.join(os.homedir(), '.sk-itest-'));
      this.env.SLURM_KERNELS_CLUSTER_STATE_DIR = path.join(
        this.clusterDir,
        'state'
      );
    }
  }

  readonly dir: string;
  /** With `laptop`: the test's own directory on the cluster (the state the companion keeps there). */
  readonly clusterDir?: string;
  readonly env: NodeJS.ProcessEnv;

  private static _environment(dir: string): NodeJS.ProcessEnv {
    return {
      HOME: os.homedir(),
      USER: os.userInfo().username,
      LANG: 'C.UTF-8',
      PATH:
        process.env.SLURM_KERNELS_TEST_PATH ?? `${LAB_ENV}/bin:/usr/bin:/bin`,
      XDG_STATE_HOME: path.join(dir, 'state'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      JUPYTER_DATA_DIR: path.join(dir, 'jupyter-data'),
      JUPYTER_CONFIG_DIR: path.join(dir, 'jupyter-config'),
      JUPYTER_RUNTIME_DIR: path.join(dir, 'jupyter-runtime'),
      IPYTHONDIR: path.join(dir, 'ipython'),
      XDG_CACHE_HOME: path.join(dir, 'cache'),
      // The transport a suite runs under (remote-kernel-srun: the srun relay).
      ...(process.env.SLURM_KERNELS_NODE_TRANSPORT
        ? {
            SLURM_KERNELS_NODE_TRANSPORT:
              process.env.SLURM_KERNELS_NODE_TRANSPORT
          }
        : {})
    };
  }

  /** The companion's default socket for this env: per host, so its kernelspecs carry no --socket. */
  get socket(): string {
    return defaultSocketPath(this.env);
  }

  companionLog = '';
  private _companion: ChildProcess | null = null;

  get companionPid(): number | undefined {
    return this._companion?.pid;
  }

  get kernelsDir(): string {
    return path.join(this.env.JUPYTER_DATA_DIR as string, 'kernels');
  }

  /** The state directory of one allocation (job script, token, rendezvous, job log). */
  allocationDir(id: string): string {
    return path.join(
      this.env.SLURM_KERNELS_CLUSTER_STATE_DIR ??
        path.join(this.env.XDG_STATE_HOME as string, 'slurm-kernels'),
      'allocations',
      id
    );
  }

  /** What the job wrote when its gateway (or server) came up: kind, port, versions. */
  rendezvousOf(id: string): { kind: string; port: number; pid: number } {
    return JSON.parse(
      readFileSync(path.join(this.allocationDir(id), 'rendezvous.json'), 'utf8')
    );
  }

  /** A client of the allocation's gateway, reached as the companion reaches it (token, tunnel). */
  gatewayOf(allocation: Allocation, tunnels: SshPool): GatewayClient {
    const { port } = this.rendezvousOf(allocation.id);
    const token = readFileSync(
      path.join(this.allocationDir(allocation.id), 'token'),
      'utf8'
    ).trim();
    return new GatewayClient(
      () => tunnels.forward(allocation.node as string, '127.0.0.1', port),
      token
    );
  }

  kernelspecNames(): string[] {
    return existsSync(this.kernelsDir)
      ? readdirSync(this.kernelsDir).filter(n => n.startsWith('slurm-'))
      : [];
  }

  /** Starts `slurm-kernels serve` on the harness's socket; `args` add to it (--cluster ALIAS). */
  async startCompanion(args: string[] = []): Promise<void> {
    if (!CLI && !existsSync(MAIN)) {
      throw new Error(
        `build the companion first (npm run build in companion/): ${MAIN} is missing`
      );
    }
    const [command, argv] = slurmKernels([
      'serve',
      '--socket',
      this.socket,
      ...args
    ]);
    this._companion = this.options.laptop
      ? onLaptop([command, ...argv], this.env, ['ignore', 'ignore', 'pipe'])
      : spawn(command, argv, {
          env: this.env,
          stdio: ['ignore', 'ignore', 'pipe']
        });
    this._companion.stderr?.on(
      'data',
      (c: Buffer) => (this.companionLog += c.toString('utf8'))
    );
    await waitFor(
      'the companion socket',
      async () => existsSync(this.socket),
      15_000,
      50
    );
  }

  cli(args: string[], timeoutMs = 120_000): Promise<ICliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(...slurmKernels([...args, '--socket', this.socket]), {
        env: this.env
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(
          new Error(
            `slurm-kernels ${args.join(' ')} ran past ${timeoutMs} ms; stderr: ${stderr}`
          )
        );
      }, timeoutMs);
      child.on('close', code => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** `slurm-kernels request ARGS --json`: the allocation, or an error with the CLI's stderr. */
  async request(args: string[]): Promise<Allocation> {
    const result = await this.cli(['request', ...args, '--json']);
    if (result.code !== 0) {
      throw new Error(
        `request ${args.join(' ')} failed: ${result.stderr}\ncompanion: ${this.companionLog}`
      );
    }
    return JSON.parse(result.stdout);
  }

  /** GPUs (one) for some minutes (20), waited for until its kernels are published. */
  /** A CPU allocation of `minutes` on the cpu partition, waited for until its kernels are ready. */
  requestCpu(minutes = 5): Promise<Allocation> {
    return this.request(['-p', 'cpu', '-t', String(minutes), '--wait']);
  }

  requestGpu(
    o: { gpus?: number; minutes?: number; preset?: string } = {}
  ): Promise<Allocation> {
    return this.request([
      ...[
        '-p',
        'gpu',
        '--gres',
        `gpu:${o.gpus ?? 1}`,
        '-t',
        `${o.minutes ?? 20}`
      ],
      ...(o.preset ? ['--env', o.preset] : []),
      '--wait'
    ]);
  }

  /** The user's own environment presets (~/.config/slurm-kernels/presets.json). */
  writePresets(presets: Record<string, unknown>): void {
    const dir = path.join(this.env.XDG_CONFIG_HOME as string, 'slurm-kernels');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'presets.json'), JSON.stringify({ presets }));
  }

  /** `slurm-kernels list --json`; none when the companion does not answer. */
  async list(): Promise<Allocation[]> {
    const listed = await this.cli(['list', '--json']);
    return listed.code === 0 ? JSON.parse(listed.stdout) : [];
  }

  /** Cancels every allocation still active and waits until Slurm has no job of ours left. */
  async cancelEverything(): Promise<void> {
    const allocations = await this.list();
    for (const a of allocations.filter(
      a => a.state !== 'ended' && a.state !== 'failed'
    )) {
      await this.cli(['cancel', a.id]);
    }
    await waitFor(
      'every allocation to end',
      async () =>
        (await this.list()).every(
          a => a.state === 'ended' || a.state === 'failed'
        ),
      60_000,
      250
    );
  }

  /** Ends every allocation, and any tagged job of the test user a failed companion left behind. */
  async cancelAll(): Promise<void> {
    await this.cancelEverything().catch(() => undefined);
    await cancelLeftoverJobs();
  }

  /** The pid of whichever companion answers on this harness's socket (one the shim or CLI started). */
  async servingPid(): Promise<number | undefined> {
    const reply = await new Promise<string>(resolve => {
      const req = http.get({ socketPath: this.socket, path: '/api' }, res => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve(body));
      });
      req.on('error', () => resolve(''));
    });
    try {
      return JSON.parse(reply).pid;
    } catch {
      return undefined;
    }
  }

  /** Stops this harness's companion, and one started on demand on its socket, by pid. */
  async stop(): Promise<void> {
    const child = this._companion;
    // Killed by a test (kill -9), it has exited already: no exit event will come.
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    const onDemand = await this.servingPid();
    if (onDemand) {
      process.kill(onDemand, 'SIGTERM');
      await waitFor(
        'the companion started on demand to stop',
        async () => !isRunning(onDemand),
        15_000,
        50
      );
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (this.clusterDir) {
      rmSync(this.clusterDir, { recursive: true, force: true });
    }
  }
}

/**
 * Runs argv on the testbed's laptop with exactly `env` (as VAR=VALUE words to its wrapper; its
 * HOME is the laptop's).
 */
export function onLaptop(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdio: StdioOptions = ['ignore', 'pipe', 'pipe']
): ChildProcess {
  const assignments = Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}`);
  return spawn('sudo', ['-n', LAPTOP, ...assignments, ...argv], { stdio });
}

/** Whether a process runs (a zombie does not: pid 1 here reaps orphans late). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
