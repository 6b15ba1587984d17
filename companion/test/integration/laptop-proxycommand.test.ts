/**
 * ProxyCommand for the login: the second login node (login2) is reached through OpenSSH's own
 * `ssh -W %h:%p` to the laptop door (login:2222; its key's certificate, then a TOTP code, which
 * that ssh asks its SSH_ASKPASS for), as a user's ~/.ssh/config may have it. The companion runs
 * the line as OpenSSH does (login/proxyCommand.ts), logs in to login2 over the proxy's stdio, runs
 * Slurm there, and leaves no proxy process once the connection is closed.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoginLink } from '../../src/login/link';
import { RemoteRunner } from '../../src/login/remoteRunner';
import { LocalRunner } from '../../src/slurm';
import { hostConfig } from '../../src/tunnel/hostConfig';
import {
  BEHIND_THE_DOOR,
  CERTIFIED_KEY,
  childProcessesOf,
  LOGIN_DOOR,
  requireTestUser,
  totpCode,
  waitFor,
  writeLoginDoorConfig
} from './testbed';

jest.setTimeout(60_000);
requireTestUser();

const ALIAS = 'testbed-proxied';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'login-proxy-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * An ssh config naming login2 with a ProxyCommand through the door (OpenSSH's ssh, with its own
 * config for the door); the door's code comes from `askpass`.
 */
function proxiedConfig(): string {
  const knownHosts = path.join(dir, 'known_hosts');
  const doorConfig = writeLoginDoorConfig(dir, knownHosts, [
    `IdentityFile ${CERTIFIED_KEY}`,
    'IdentitiesOnly yes',
    'StrictHostKeyChecking accept-new'
  ]);
  const askpass = path.join(dir, 'askpass');
  writeFileSync(askpass, `#!/bin/sh\necho ${totpCode()}\n`);
  chmodSync(askpass, 0o700);
  const config = path.join(dir, 'proxied_config');
  writeFileSync(
    config,
    [
      `Host ${ALIAS}`,
      `    HostName ${BEHIND_THE_DOOR.address}`,
      // `env` since OpenSSH runs the line after `exec`, where an assignment would be no command.
      `    ProxyCommand env SSH_ASKPASS=${askpass} SSH_ASKPASS_REQUIRE=force ssh -F ${doorConfig} -W %h:%p ${LOGIN_DOOR.alias}`,
      `    UserKnownHostsFile ${knownHosts}`,
      '    GlobalKnownHostsFile /dev/null',
      ''
    ].join('\n')
  );
  return config;
}

it('logs in through the ProxyCommand, runs Slurm behind it, and leaves no proxy behind', async () => {
  const configFile = proxiedConfig();
  const link = new LoginLink({
    cluster: ALIAS,
    hostConfig: () =>
      hostConfig(ALIAS, { runner: new LocalRunner(), configFile }),
    prompts: {
      trustNewHostKey: async () => true,
      // The door's code is the proxy's to ask; login2 takes the key alone.
      answer: async () => null
    }
  });
  try {
    const runner = new RemoteRunner(link);
    const { stdout: where } = await runner.run(['hostname']);
    expect(where).toBe(`${BEHIND_THE_DOOR.host}\n`);
    // The connection comes from the door, where the proxy's ssh opened it.
    const { stdout: from } = await runner.run(['printenv', 'SSH_CONNECTION']);
    expect(from.split(' ')[0]).toBe(LOGIN_DOOR.address);
    const { code, stdout: partitions } = await runner.run([
      'sinfo',
      '--noheader',
      '--format=%P'
    ]);
    expect([code, partitions.split('\n')]).toEqual([
      0,
      expect.arrayContaining(['cpu*', 'gpu'])
    ]);
    // `exec`: the proxy is OpenSSH's ssh itself, no shell waiting on it.
    expect(await childProcessesOf(process.pid, 'ssh')).toHaveLength(1);
    expect(await childProcessesOf(process.pid, 'sh')).toEqual([]);
  } finally {
    link.close();
  }
  await waitFor(
    'the proxy to end',
    async () => (await childProcessesOf(process.pid, 'ssh')).length === 0,
    10_000
  );
});

it('says how the ProxyCommand failed, in its own words', async () => {
  const config = path.join(dir, 'failing_config');
  writeFileSync(
    config,
    [
      `Host ${ALIAS}`,
      `    HostName ${BEHIND_THE_DOOR.address}`,
      `    ProxyCommand sh -c 'echo "channel 0: open failed: connect failed: No route to host" >&2; exit 255'`,
      ''
    ].join('\n')
  );
  const link = new LoginLink({
    cluster: ALIAS,
    hostConfig: () =>
      hostConfig(ALIAS, { runner: new LocalRunner(), configFile: config }),
    prompts: {
      trustNewHostKey: async () => true,
      answer: async () => null
    }
  });
  try {
    await expect(link.connect()).rejects.toThrow(
      `${ALIAS}: cannot connect to ${BEHIND_THE_DOOR.address}:22: the ProxyCommand exited with code 255: channel 0: open failed: connect failed: No route to host`
    );
  } finally {
    link.close();
  }
});
