/**
 * Helpers for tests on the real testbed (dev/testbed/up.sh). They run as an ordinary user.
 */
import {
  ChildProcess,
  execFile,
  execFileSync,
  spawn
} from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isOurJobComment } from '../../src/allocations/manager';
import { shellQuote } from '../../src/gateway/jobScript';
import { cancelJob, listJobs, LocalRunner } from '../../src/slurm';
import type { LoginQuestion } from '../../../src/api/login';
import { requestJson } from '../unit/http/request';

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  intervalMs = 100
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}

export function requireTestUser(): string {
  const user = os.userInfo().username;
  if (user === 'root') {
    throw new Error(
      'integration tests run as the ordinary test user (e.g. runuser -u alice), not root'
    );
  }
  return user;
}

/**
 * Drops the test user's ssh connections the way a network cut would: ends the user's own sshd
 * session processes (on every node; only the companion under test has any). Returns how many.
 */
export async function dropSshConnections(): Promise<number> {
  const { stdout } = await promisify(execFile)('ps', [
    '-u',
    os.userInfo().username,
    '-o',
    'pid=,args='
  ]);
  const sessions = stdout
    .split('\n')
    .map(line => /^\s*(\d+)\s+sshd: /.exec(line)?.[1])
    .filter((pid): pid is string => Boolean(pid))
    .map(Number);
  sessions.forEach(pid => process.kill(pid, 'SIGTERM'));
  return sessions.length;
}

/** The srun processes (relay steps) a companion runs, by pid: its children named srun. */
export async function relaySrunsOf(companionPid: number): Promise<number[]> {
  return childProcessesOf(companionPid, 'srun');
}

/** The pids of a process's children that run `comm` (srun relays, OpenSSH's ssh -W). */
export async function childProcessesOf(
  parentPid: number,
  comm: string
): Promise<number[]> {
  const { stdout } = await promisify(execFile)('ps', [
    '-u',
    os.userInfo().username,
    '-o',
    'pid=,ppid=,comm='
  ]);
  return stdout
    .split('\n')
    .map(line => line.trim().split(/\s+/))
    .filter(([, ppid, c]) => Number(ppid) === parentPid && c === comm)
    .map(([pid]) => Number(pid));
}

/**
 * Drops a companion's connections to the nodes, whichever transport carries them: its ssh
 * sessions, or its srun relay steps (SIGTERM to each srun: the step ends). Returns how many.
 */
export async function dropNodeConnections(
  companionPid: number
): Promise<number> {
  if (process.env.SLURM_KERNELS_NODE_TRANSPORT === 'srun') {
    const pids = await relaySrunsOf(companionPid);
    pids.forEach(pid => process.kill(pid, 'SIGTERM'));
    return pids.length;
  }
  return dropSshConnections();
}

/** The test user's live (pending or running) jobs of ours in Slurm, by id, sorted. */
export async function liveJobsOfOurs(): Promise<string[]> {
  const jobs = await listJobs(new LocalRunner(), {
    user: os.userInfo().username
  });
  return jobs
    .filter(
      j => isOurJobComment(j.comment) && /^(PENDING|RUNNING)$/.test(j.state)
    )
    .map(j => j.id)
    .sort();
}

/**
 * Should a companion under test have failed to, leaves no job of ours in Slurm: cancels the test
 * user's tagged jobs that still pend or run (the test user runs only tests).
 */
export async function cancelLeftoverJobs(): Promise<void> {
  const runner = new LocalRunner();
  for (const id of await liveJobsOfOurs()) {
    await cancelJob(runner, id);
  }
}

/**
 * Runs argv on another testbed host (a second login node) over ssh as the test user, with exactly
 * `env`. With `tty`, the remote process gets a terminal and ends with the ssh session (SIGHUP), so
 * killing the returned ssh process stops it; without, the command is expected to end by itself.
 */
export function spawnOnHost(
  host: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  tty = false
): ChildProcess {
  const assignments = Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => shellQuote(`${name}=${value}`));
  const command = [
    'exec',
    'env',
    '-i',
    ...assignments,
    ...argv.map(shellQuote)
  ];
  return spawn(
    'ssh',
    [
      ...(tty ? ['-tt'] : []),
      '-o',
      'BatchMode=yes',
      '-o',
      'LogLevel=ERROR',
      host,
      command.join(' ')
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] }
  );
}

/**
 * Injects a fault on the testbed as root, through the one script the test user may run with sudo
 * (dev/testbed/fault.sh): `ctld stop|start`, `link NODE down|up`, `node NODE down|resume`,
 * `sshd NODE stop|start|no-forwarding`.
 */
export async function injectFault(...args: string[]): Promise<void> {
  await promisify(execFile)(
    'sudo',
    ['-n', '/usr/local/sbin/slurm-kernels-testbed-fault', ...args],
    { timeout: 60_000 }
  );
}

/** The login node's door for laptops (dev/testbed/lib.sh): a key, then a TOTP code. */
export const LOGIN_DOOR = {
  alias: 'testbed-2fa',
  address: '10.77.0.10',
  port: 2222
};

/**
 * The second login node reached through the door as a jump host (ProxyJump): the testbed's
 * laptop has no route to it but through the first.
 */
export const BEHIND_THE_DOOR = {
  alias: 'testbed-behind',
  address: '10.77.0.9',
  host: 'login2'
};

/**
 * An ssh config in `dir` that names the door by its alias, and the login node behind it, with a
 * known_hosts file of the test's own (none system-wide): the laptop's ~/.ssh/config, as a test
 * may have it. Returns its path.
 */
export function writeLoginDoorConfig(
  dir: string,
  knownHosts: string,
  /** More settings for the door (an IdentityFile…). */
  door: string[] = []
): string {
  const config = path.join(dir, 'ssh_config');
  writeFileSync(
    config,
    [
      `Host ${LOGIN_DOOR.alias}`,
      `    HostName ${LOGIN_DOOR.address}`,
      `    Port ${LOGIN_DOOR.port}`,
      ...door.map(line => `    ${line}`),
      `    UserKnownHostsFile ${knownHosts}`,
      '    GlobalKnownHostsFile /dev/null',
      `Host ${BEHIND_THE_DOOR.alias}`,
      `    HostName ${BEHIND_THE_DOOR.address}`,
      `    ProxyJump ${LOGIN_DOOR.alias}`,
      `    UserKnownHostsFile ${knownHosts}`,
      '    GlobalKnownHostsFile /dev/null',
      ''
    ].join('\n')
  );
  return config;
}

/**
 * The laptop's key that no authorized_keys lists, with a certificate of the user CA beside it
 * (`-cert.pub`), which only the laptop door trusts (dev/testbed/up.sh certify_laptop_key).
 */
export const CERTIFIED_KEY = path.join(
  '/var/lib/slurm-testbed/laptop',
  os.userInfo().username,
  '.ssh',
  'id_sshproxy'
);

/** The test user's current TOTP code, as their phone would show it. */
export function totpCode(): string {
  const secret = readFileSync(
    path.join(os.homedir(), '.google_authenticator'),
    'utf8'
  ).split('\n')[0];
  return execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim();
}

/**
 * The person at a laptop's lab, as the login dialog has them: whenever the companion's login
 * asks (GET /api/logins), they trust the login node's key and type the current code. `asked` is
 * every question they saw, in order.
 */
export class LaptopPerson {
  readonly asked: LoginQuestion[] = [];

  /** `clusters`: the lab's clusters whose logins they answer; none: the companion's default. */
  constructor(
    private readonly _socket: string,
    private readonly _clusters: string[] = []
  ) {}

  start(): void {
    this._timer = setInterval(() => void this._answer(), 200);
  }

  stop(): void {
    clearInterval(this._timer);
  }

  private async _answer(): Promise<void> {
    if (this._answering) {
      return;
    }
    this._answering = true;
    const prefixes =
      this._clusters.length > 0
        ? this._clusters.map(c => `/clusters/${c}`)
        : [''];
    try {
      for (const prefix of prefixes) {
        await this._answerAt(prefix).catch(() => undefined);
      }
    } finally {
      this._answering = false;
    }
  }

  /** No companion listening (not yet, or no more), or no such cluster yet: nothing to answer. */
  private async _answerAt(prefix: string): Promise<void> {
    const { body } = await requestJson(
      this._socket,
      'GET',
      `${prefix}/api/logins`
    );
    for (const question of (body?.questions ?? []) as LoginQuestion[]) {
      if (!this.asked.some(q => q.id === question.id)) {
        this.asked.push(question);
        await requestJson(
          this._socket,
          'POST',
          `${prefix}/api/logins/${question.id}`,
          question.kind === 'host-key'
            ? { trust: true }
            : { answers: [totpCode()] }
        );
      }
    }
  }

  private _timer?: NodeJS.Timeout;
  private _answering = false;
}

/** Runs a command on the testbed's laptop (dev/testbed/laptop.sh), as the test user. */
export const LAPTOP = '/usr/local/sbin/slurm-kernels-testbed-laptop';

/** A TCP connection from the testbed's laptop to host:port: whether it opened within 3 s. */
export async function laptopReaches(
  host: string,
  port: number
): Promise<boolean> {
  try {
    await promisify(execFile)(
      'sudo',
      [
        '-n',
        LAPTOP,
        'timeout',
        '3',
        'bash',
        '-c',
        `exec 3<>/dev/tcp/${host}/${port}`
      ],
      { timeout: 10_000 }
    );
    return true;
  } catch {
    return false;
  }
}
