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

  it('says a host only a @cert-authority line vouches for cannot be checked, and never takes the CA key as its own', () => {
    const hosts = new KnownHosts(
      parseKnownHosts(
        [
          `@cert-authority *.cluster,gpu-* ssh-ed25519 ${b64}`,
          `login ssh-ed25519 ${b64}`
        ].join('\n')
      )
    );
    // The CA's own key presented by a host is no proof of anything.
    expect(hosts.verify(['gpu-3'], 22, key)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        /^gpu-3 is vouched for only by a @cert-authority line/
      )
    });
    expect(hosts.verify(['n1.cluster'], 22, other).ok).toBe(false);
    expect(hosts.verify(['login'], 22, key).ok).toBe(true);
    expect(hosts.verify(['elsewhere'], 22, key)).toMatchObject({
      reason: expect.stringMatching(/not in known_hosts/)
    });
  });
});
