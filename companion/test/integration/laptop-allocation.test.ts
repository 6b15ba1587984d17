/**
 * An allocation asked for from a laptop, everything through its one login to the cluster (the
 * testbed's key + TOTP door on login:2222): Slurm's commands over exec, the job's script, token,
 * rendezvous file and log on the cluster's file system over SFTP, the gateway reached through
 * the login (ssh end to end to the node, or the srun relay started on the login node). The
 * companion's parts are assembled as `serve` assembles them, with the laptop's pieces; the code
 * is asked once for the whole allocation. The lab's side of laptop mode (adding a cluster,
 * the prompt dialog) is not built yet.
 */
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { AllocationManager } from '../../src/allocations/manager';
import { Gateway } from '../../src/allocations/gateway';
import { KernelspecWriter } from '../../src/kernelspecs/writer';
import { IPromptRound, LoginLink } from '../../src/login/link';
import { nodesThroughLogin } from '../../src/login/nodes';
import { RemoteFiles } from '../../src/login/remoteFiles';
import { RemoteRunner } from '../../src/login/remoteRunner';
import { CachedCluster } from '../../src/routes/cluster';
import { listJobs, LocalRunner } from '../../src/slurm';
import { hostConfig } from '../../src/tunnel/hostConfig';
import { SrunRelay } from '../../src/tunnel/srunRelay';
import { NodeTransports, TransportMode } from '../../src/tunnel/transport';
import {
  LOGIN_DOOR,
  requireTestUser,
  totpCode,
  waitFor,
  writeLoginDoorConfig
} from './testbed';

jest.setTimeout(120_000);
requireTestUser();

const ALIAS = LOGIN_DOOR.alias;
const quiet = { info: () => undefined, warn: () => undefined };

let dir: string;
let sshConfig: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'laptop-'));
  const knownHosts = path.join(dir, 'known_hosts');
  // The laptop knows the login node's key (accepted once before); nothing of the nodes.
  const key = readFileSync('/etc/ssh/ssh_host_ed25519_key.pub', 'utf8');
  writeFileSync(
    knownHosts,
    `[${LOGIN_DOOR.address}]:${LOGIN_DOOR.port} ${key.split(' ').slice(0, 2).join(' ')}\n`
  );
  sshConfig = writeLoginDoorConfig(dir, knownHosts);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The companion's parts as `serve` puts them together, for a cluster reached from a laptop. */
async function laptopCompanion(mode: TransportMode) {
  const rounds: IPromptRound[] = [];
  const login = () =>
    hostConfig(ALIAS, { runner: new LocalRunner(), configFile: sshConfig });
  const link = new LoginLink({
    cluster: ALIAS,
    hostConfig: login,
    prompts: {
      trustNewHostKey: async () => false,
      answer: async round => {
        rounds.push(round);
        return round.prompts.map(() => totpCode());
      }
    }
  });
  const runner = new RemoteRunner(link);
  const files = new RemoteFiles(link);
  const home = await files.home();
  const transports = new NodeTransports({
    ssh: nodesThroughLogin({ link, login }),
    srun: new SrunRelay({ runner, commands: runner }),
    mode
  });
  const kernelspecs = new KernelspecWriter({
    dataDir: path.join(dir, 'jupyter'),
    shimArgv: ['false'],
    cluster: ALIAS
  });
  const gateway = new Gateway({ transports, kernelspecs, log: quiet, files });
  // The state on the cluster's file system: a directory of the test's own there.
  const stateDir = path.join(dir, 'cluster-state');
  const allocations = new AllocationManager({
    runner,
    cluster: new CachedCluster(runner),
    stateDir,
    gateway,
    log: quiet,
    files,
    home,
    fastPollMs: 500,
    startingPollMs: 1000
  });
  await allocations.init();
  return {
    rounds,
    link,
    stateDir,
    allocations,
    gateway,
    kernelspecs,
    dispose: async () => {
      await allocations.dispose();
      transports.dispose();
      link.close();
    }
  };
}

async function readyAllocation(
  companion: Awaited<ReturnType<typeof laptopCompanion>>
): Promise<Allocation> {
  const asked = await companion.allocations.request({
    partition: 'cpu',
    time: '5',
    // The site's preset, as the form resolves it.
    environment: { venv: '/opt/slurm-kernels/site-env' }
  });
  return waitFor(
    'the allocation ready',
    async () => {
      const a = companion.allocations.get(asked.id);
      if (a.state === 'failed' || a.state === 'ended') {
        throw new Error(`it ${a.state}: ${a.outcome?.message}`);
      }
      return a.state === 'ready' ? a : undefined;
    },
    90_000,
    250
  );
}

it.each<[TransportMode, string]>([
  ['ssh', 'ssh'],
  ['srun', 'srun']
])(
  'runs an allocation from a laptop through one login, the gateway reached by %s',
  async (mode, kind) => {
    const companion = await laptopCompanion(mode);
    let allocation: Allocation | undefined;
    try {
      allocation = await readyAllocation(companion);
      expect(allocation.transport?.kind).toBe(kind);
      // Its kernels are offered to the laptop's Jupyter, named by the cluster, the node and the job.
      expect(allocation.kernelspecs.map(k => k.displayName)).toContain(
        `Python 3 (ipykernel) · ${LOGIN_DOOR.alias} · ${allocation.node} · CPU only · job ${allocation.jobId}`
      );
      expect(allocation.kernelspecs.map(k => k.name)).toContain(
        `slurm-${LOGIN_DOOR.alias}-${allocation.jobId}-python3`
      );
      expect(await companion.gateway.remoteKernels(allocation.id)).toEqual([]);
      // The job's files are on the cluster's file system, private; its log is read over SFTP.
      const jobDir = path.join(
        companion.stateDir,
        'allocations',
        allocation.id
      );
      expect(statSync(path.join(jobDir, 'token')).mode & 0o777).toBe(0o600);
      expect(statSync(jobDir).mode & 0o777).toBe(0o700);
      expect(await companion.allocations.log(allocation.id)).toMatch(/\S/);
      // One code for all of it.
      expect(companion.rounds).toHaveLength(1);

      const cancelled = await companion.allocations.cancel(allocation.id);
      expect(['ended', 'ending']).toContain(cancelled.state);
      await waitFor(
        'the job gone from Slurm',
        async () =>
          (
            await listJobs(new LocalRunner(), { jobIds: [allocation!.jobId!] })
          ).every(j => !/^(PENDING|RUNNING|CONFIGURING)$/.test(j.state)),
        30_000,
        250
      );
    } finally {
      await companion.dispose();
    }
  }
);
