/**
 * A login with an OpenSSH user certificate, as sites with NERSC-style sshproxy issue them: the
 * laptop's key `id_sshproxy` is in no authorized_keys, and the testbed's laptop door (login:2222)
 * trusts the user CA that signed `id_sshproxy-cert.pub` beside it (dev/testbed/up.sh). The login
 * presents the certificate (login/certificates.ts), then the door asks its code; the same key
 * without its certificate is refused. A certificate held only in the ssh-agent (`ssh-add` of the
 * key, as sshproxy users do) logs in too (login/certificateAgent.ts).
 */
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IPromptRound, LoginLink } from '../../src/login/link';
import { RemoteRunner } from '../../src/login/remoteRunner';
import { LocalRunner } from '../../src/slurm';
import { hostConfig } from '../../src/tunnel/hostConfig';
import { startSshAgent } from '../sshAgent';
import {
  CERTIFIED_KEY,
  LOGIN_DOOR,
  requireTestUser,
  totpCode,
  writeLoginDoorConfig
} from './testbed';

jest.setTimeout(60_000);
requireTestUser();

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'login-cert-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The door's ssh config, offering only `identityFile`, with a fresh known_hosts. */
function doorWith(identityFile: string): string {
  return writeLoginDoorConfig(dir, path.join(dir, 'known_hosts'), [
    `IdentityFile ${identityFile}`,
    'IdentitiesOnly yes'
  ]);
}

/** A login to the door; with no `agent`, only the config's key files (and certificates). */
function linkThrough(
  configFile: string,
  rounds: IPromptRound[],
  agent = ''
): LoginLink {
  return new LoginLink({
    cluster: LOGIN_DOOR.alias,
    hostConfig: () =>
      hostConfig(LOGIN_DOOR.alias, { runner: new LocalRunner(), configFile }),
    agent,
    prompts: {
      trustNewHostKey: async () => true,
      answer: async round => {
        rounds.push(round);
        return round.prompts.map(() => totpCode());
      }
    }
  });
}

it('logs in with the certificate beside the key, then the code; the bare key is refused', async () => {
  const rounds: IPromptRound[] = [];
  const certified = linkThrough(doorWith(CERTIFIED_KEY), rounds);
  try {
    const { code, stdout } = await new RemoteRunner(certified).run([
      'hostname'
    ]);
    expect([code, stdout]).toEqual([0, 'login\n']);
    // Past the key (the certificate), the door asked its code once.
    expect(rounds.map(r => r.prompts.map(p => p.prompt))).toEqual([
      ['Verification code: ']
    ]);
  } finally {
    certified.close();
  }

  // The same key, with no certificate beside it: the door knows no such key.
  const bare = path.join(dir, 'id_bare');
  copyFileSync(CERTIFIED_KEY, bare);
  const refused = linkThrough(doorWith(bare), []);
  try {
    const failure: Error = await new RemoteRunner(refused)
      .run(['hostname'])
      .then(
        () => new Error('logged in'),
        err => err
      );
    expect(failure.message).toMatch(/refused the login as \S+/);
  } finally {
    refused.close();
  }
});

it('logs in with a certificate only the ssh-agent holds', async () => {
  // As sshproxy users do: ssh-add of the key with its certificate beside it; then the files go.
  const key = path.join(dir, 'id_sshproxy');
  copyFileSync(CERTIFIED_KEY, key);
  copyFileSync(`${CERTIFIED_KEY}-cert.pub`, `${key}-cert.pub`);
  chmodSync(key, 0o600);
  const agent = await startSshAgent(path.join(dir, 'agent.sock'), [key]);
  rmSync(key);
  rmSync(`${key}-cert.pub`);
  // The config names no key there is: only the agent can log in.
  const config = writeLoginDoorConfig(dir, path.join(dir, 'known_hosts'), [
    `IdentityFile ${path.join(dir, 'no-such-key')}`
  ]);
  const rounds: IPromptRound[] = [];
  const link = linkThrough(config, rounds, agent.socket);
  try {
    const { code, stdout } = await new RemoteRunner(link).run(['hostname']);
    expect([code, stdout]).toEqual([0, 'login\n']);
    expect(rounds.map(r => r.prompts.map(p => p.prompt))).toEqual([
      ['Verification code: ']
    ]);
  } finally {
    link.close();
    agent.stop();
  }
});
