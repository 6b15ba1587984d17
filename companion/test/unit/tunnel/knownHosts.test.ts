import { createHmac } from 'node:crypto';
import { KnownHosts, parseKnownHosts } from '../../../src/tunnel/knownHosts';

const key = Buffer.from(
  'AAAAC3NzaC1lZDI1NTE5AAAAIKnownKeyBytesForTheTestbed0123456789ab',
  'base64'
);
const other = Buffer.from(
  'AAAAC3NzaC1lZDI1NTE5AAAAIAnotherKeyOfSomeoneElse0123456789abcd',
  'base64'
);
const b64 = key.toString('base64');

function hashed(name: string): string {
  const salt = Buffer.from('0123456789abcdef0123');
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  it('accepts the known key of a host, by name or address', () => {
    const hosts = new KnownHosts(
      parseKnownHosts(`node1,10.77.0.11 ssh-ed25519 ${b64}\n`)
    );
    expect(hosts.verify(['node1'], 22, key)).toEqual({ ok: true });
    expect(hosts.verify(['other-name', '10.77.0.11'], 22, key)).toEqual({
      ok: true
    });
  });

  it('refuses a different key for a known host, and an unknown host', () => {
    const hosts = new KnownHosts(parseKnownHosts(`node1 ssh-ed25519 ${b64}\n`));
    expect(hosts.verify(['node1'], 22, other)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not match/)
    });
    expect(hosts.verify(['node9'], 22, key)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not in known_hosts/)
    });
  });

  it('understands hashed names, wildcards, negation, ports and @revoked', () => {
    const text = [
      `${hashed('gpu-17')} ssh-ed25519 ${b64}`,
      `node*,!node666 ssh-ed25519 ${b64}`,
      `[login]:2222 ssh-ed25519 ${b64}`,
      `@revoked bad ssh-ed25519 ${b64}`,
      `bad ssh-ed25519 ${b64}`,
      '# a comment'
    ].join('\n');
    const hosts = new KnownHosts(parseKnownHosts(text));
    expect(hosts.verify(['gpu-17'], 22, key).ok).toBe(true);
    expect(hosts.verify(['node42'], 22, key).ok).toBe(true);
    expect(hosts.verify(['node666'], 22, key).ok).toBe(false);
    expect(hosts.verify(['login'], 2222, key).ok).toBe(true);
    expect(hosts.verify(['login'], 22, key).ok).toBe(false);
    expect(hosts.verify(['bad'], 22, key)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/revoked/)
    });
  });
});
