/**
 * A laptop's one connection to the cluster (login/link.ts) against the testbed's 2FA door: the
 * login node's sshd on port 2222 asks for a key and then a TOTP code (google-authenticator through
 * PAM; codes computed with oathtool from the test user's secret). A first connection shows the
 * host key's fingerprint and saves it where OpenSSH then accepts it; the code is asked once for
 * a dozen commands at once (more than sshd's MaxSessions), SFTP and a stream to a compute node;
 * a broken connection asks once more; a changed key, a wrong code and a cancelled login each say
 * so and ask nothing more. Compute nodes are reached through that login with the laptop's key,
 * their host keys checked against the cluster's known_hosts (the laptop's lists no node).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  INewHostKey,
  IPromptRound,
  LoginError,
  LoginLink
} from '../../src/login/link';
import { nodesThroughLogin } from '../../src/login/nodes';
import { RemoteFiles } from '../../src/login/remoteFiles';
import { RemoteRunner } from '../../src/login/remoteRunner';
import { LocalRunner } from '../../src/slurm';
import { hostConfig } from '../../src/tunnel/hostConfig';
import { behavesAsStateFileSystem } from '../contracts/stateFileSystem';
import {
  dropSshConnections,
  LOGIN_DOOR,
  requireTestUser,
  totpCode,
  waitFor,
  writeLoginDoorConfig
} from './testbed';

jest.setTimeout(60_000);
requireTestUser();

const ALIAS = LOGIN_DOOR.alias;
const LOGIN = LOGIN_DOOR.address;
/** The login node's ed25519 host key, as OpenSSH prints its fingerprint. */
const FINGERPRINT = execFileSync('ssh-keygen', [
  '-l',
  '-f',
  '/etc/ssh/ssh_host_ed25519_key.pub'
])
  .toString()
  .split(' ')[1];

let dir: string;
let knownHosts: string;
let sshConfig: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'login-link-'));
  knownHosts = path.join(dir, 'known_hosts');
  sshConfig = writeLoginDoorConfig(dir, knownHosts);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A person who accepts the host key and types the current code; what they were asked. */
function person(answer: (round: IPromptRound) => string[] | null = totp) {
  const asked = { hostKeys: [] as INewHostKey[], rounds: [] as IPromptRound[] };
  return {
    asked,
    prompts: {
      trustNewHostKey: async (key: INewHostKey) => {
        asked.hostKeys.push(key);
        return true;
      },
      answer: async (round: IPromptRound) => {
        asked.rounds.push(round);
        return answer(round);
      }
    }
  };
}

function totp(round: IPromptRound): string[] {
  return round.prompts.map(() => totpCode());
}

const loginConfig = () =>
  hostConfig(ALIAS, { runner: new LocalRunner(), configFile: sshConfig });

function linkFor(prompts: ReturnType<typeof person>['prompts']): LoginLink {
  return new LoginLink({ cluster: ALIAS, hostConfig: loginConfig, prompts });
}

/** The first bytes a stream brings (an sshd's greeting). */
function firstData(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise(resolve =>
    stream.once('data', (chunk: Buffer) => resolve(chunk.toString()))
  );
}

it('asks for the host key and one code, then carries commands, files and streams on that one login', async () => {
  const { asked, prompts } = person();
  const link = linkFor(prompts);
  const runner = new RemoteRunner(link);
  try {
    // A dozen commands at once: more than sshd's MaxSessions (10), through one login.
    const hosts = await Promise.all(
      Array.from({ length: 12 }, () => runner.run(['hostname']))
    );
    expect(hosts.map(r => [r.code, r.stdout])).toEqual(
      Array(12).fill([0, 'login\n'])
    );
    expect(asked.hostKeys).toEqual([
      {
        cluster: ALIAS,
        host: ALIAS,
        port: 2222,
        keyType: 'ssh-ed25519',
        fingerprint: FINGERPRINT
      }
    ]);
    expect(asked.rounds.map(r => r.prompts)).toEqual([
      [{ prompt: 'Verification code: ', echo: false }]
    ]);
    // Saved as OpenSSH saves it, and OpenSSH takes it: its login fails on the code, not the key.
    expect(readFileSync(knownHosts, 'utf8')).toMatch(
      new RegExp(
        `^\\[${LOGIN.replace(/\./g, '\\.')}\\]:2222 ssh-ed25519 \\S+\\n$`
      )
    );
    const openssh = spawnSync(
      'ssh',
      ['-F', sshConfig, '-o', 'BatchMode=yes', ALIAS, 'true'],
      { encoding: 'utf8' }
    );
    expect(openssh.stderr).toMatch(/Permission denied/);
    expect(openssh.stderr).not.toMatch(/Host key verification failed/);

    // Slurm answers through it.
    const partitions = await runner.run(['sinfo', '-h', '-o', '%P']);
    expect(partitions.stdout.split('\n')).toEqual(
      expect.arrayContaining(['cpu*', 'gpu'])
    );

    // Files on the cluster's file system, 0600, written whole.
    const files = new RemoteFiles(link);
    const home = await files.home();
    expect(home).toBe(os.homedir());
    const where = path.join(dir, 'cluster', 'state');
    await files.makeDirectory(where);
    const token = path.join(where, 'token');
    await files.writeFile(token, 'first');
    await files.writeFile(token, 'second secret');
    expect(statSync(token).mode & 0o777).toBe(0o600);
    expect(statSync(where).mode & 0o777).toBe(0o700);
    expect((await files.readFile(token)).toString()).toBe('second secret');
    expect(await files.mode(path.join(where, 'missing'))).toBeUndefined();
    await files.remove(token);
    expect(await files.mode(token)).toBeUndefined();

    // A stream to a compute node, as the login node sees it.
    const stream = await link.forward('node1', 22);
    const greeting = await firstData(stream);
    stream.destroy();
    expect(greeting).toMatch(/^SSH-2\.0-OpenSSH/);

    expect(asked.rounds).toHaveLength(1);
    expect(asked.hostKeys).toHaveLength(1);

    // The connection breaks (a laptop's sleep): it is logged in again by itself, asking once.
    const states: string[] = [];
    link.onState(state => states.push(state));
    expect(await dropSshConnections()).toBeGreaterThan(0);
    await waitFor(
      'the link rebuilt',
      async () => states.includes('up'),
      20_000,
      50
    );
    expect((await runner.run(['hostname'])).stdout).toBe('login\n');
    expect(asked.rounds).toHaveLength(2);
    expect(asked.hostKeys).toHaveLength(1);
    expect(states).toEqual([
      'down',
      'connecting',
      'asking',
      'connecting',
      'up'
    ]);
  } finally {
    link.close();
  }
});

it("logs in to compute nodes through the login with the laptop's key, checking them against the cluster's known_hosts", async () => {
  const { asked, prompts } = person();
  const link = linkFor(prompts);
  const nodes = nodesThroughLogin({ link, login: loginConfig });
  try {
    // The laptop's known_hosts (the test's own file) lists no node: the cluster's does.
    for (const node of ['node1', 'node2']) {
      const stream = await nodes.forward(node, '127.0.0.1', 22);
      expect(await firstData(stream)).toMatch(/^SSH-2\.0-OpenSSH/);
      stream.destroy();
    }
    expect(readFileSync(knownHosts, 'utf8')).not.toMatch(/node/);
    // One code for the login; the nodes ask for nothing.
    expect(asked.rounds).toHaveLength(1);
  } finally {
    nodes.dispose();
    link.close();
  }
});

it('says that a startup file printing on the cluster breaks SFTP, and how to quiet it', async () => {
  // A line above Debian's "not interactive: return", as users add them (a banner, `module list`).
  const bashrc = path.join(os.homedir(), '.bashrc');
  const original = readFileSync(bashrc, 'utf8');
  writeFileSync(bashrc, `echo "Welcome to the cluster"\n${original}`);
  const link = linkFor(person().prompts);
  try {
    await expect(link.sftp()).rejects.toThrow(
      /your login shell there printed "Welc…" before SFTP could start.*\[\[ \$- == \*i\* \]\] \|\| return/
    );
  } finally {
    writeFileSync(bashrc, original);
    link.close();
  }
});

it('refuses a changed host key loudly, and asks nothing', async () => {
  const other = readFileSync('/etc/ssh/ssh_host_ecdsa_key.pub', 'utf8')
    .split(' ')
    .slice(0, 2);
  // The ed25519 entry names another key (the ecdsa blob under the ed25519 type).
  writeFileSync(knownHosts, `[${LOGIN}]:2222 ssh-ed25519 ${other[1]}\n`);
  const { asked, prompts } = person();
  const link = linkFor(prompts);
  const refused = await link.connect().catch((err: LoginError) => err);
  expect(refused).toBeInstanceOf(LoginError);
  expect((refused as LoginError).kind).toBe('host-key');
  expect((refused as LoginError).message).toMatch(
    /^testbed-2fa: REFUSED: the host key of testbed-2fa does not match known_hosts: possible man-in-the-middle.*ssh-keygen -R \[testbed-2fa\]:2222/
  );
  expect(asked).toEqual({ hostKeys: [], rounds: [] });
  expect(link.state).toBe('down');
});

it('says a wrong code was refused, asking for it once', async () => {
  const { asked, prompts } = person(round => round.prompts.map(() => '000000'));
  const refused = await linkFor(prompts)
    .connect()
    .catch((err: LoginError) => err);
  expect((refused as LoginError).kind).toBe('authentication');
  expect((refused as LoginError).message).toMatch(
    /^testbed-2fa: the login node refused the login as alice/
  );
  expect(asked.rounds).toHaveLength(1);
});

it('ends the login when the person cancels the code', async () => {
  const { asked, prompts } = person(() => null);
  const refused = await linkFor(prompts)
    .connect()
    .catch((err: LoginError) => err);
  expect((refused as LoginError).kind).toBe('cancelled');
  expect((refused as LoginError).message).toBe(
    'testbed-2fa: the login was cancelled'
  );
  expect(asked.rounds).toHaveLength(1);
});

describe("the cluster's file system over SFTP as the companion's state", () => {
  let link: LoginLink | undefined;
  afterEach(() => link?.close());
  behavesAsStateFileSystem(async () => {
    link = linkFor(person().prompts);
    return { files: new RemoteFiles(link), dir };
  });
});
