import {
  expandProxyCommand,
  hostConfig,
  jumpHostConfig,
  parseJumpHop
} from '../../../src/tunnel/hostConfig';
import { fixture } from '../fixtures';
import { FakeRunner } from '../slurm/fake-runner';

const sources = (answer: string | Error, nodeAddress = jest.fn()) => ({
  runner: new FakeRunner(() =>
    answer instanceof Error
      ? { code: 255, stderr: answer.message }
      : { stdout: answer }
  ),
  nodeAddress,
  home: '/home/alice',
  user: 'alice'
});

describe("a node's ssh settings, as OpenSSH evaluates them (ssh -G)", () => {
  it("takes Slurm's NodeAddr where the config names no HostName, and OpenSSH's default files", async () => {
    const nodeAddress = jest.fn().mockResolvedValue('10.77.0.11');
    const s = sources(fixture('../openssh-9.2/ssh-G-default.txt'), nodeAddress);
    const config = await hostConfig('node1', s);
    expect(s.runner.calls[0].argv).toEqual(['ssh', '-G', 'node1']);
    expect(config).toEqual({
      certificateFiles: [],
      hostname: '10.77.0.11',
      port: 22,
      user: 'alice',
      identityFiles: expect.arrayContaining([
        '/home/alice/.ssh/id_ed25519',
        '/home/alice/.ssh/id_rsa'
      ]),
      knownHostsFiles: [
        '/home/alice/.ssh/known_hosts',
        '/home/alice/.ssh/known_hosts2',
        '/etc/ssh/ssh_known_hosts',
        '/etc/ssh/ssh_known_hosts2'
      ],
      publicKeys: true,
      knownAs: ['node1', '10.77.0.11'],
      unsupported: [],
      proxyJump: []
    });
  });

  it('honours HostName, Port, IdentityFile, HostKeyAlias and known_hosts files from the config', async () => {
    const nodeAddress = jest.fn().mockResolvedValue('10.77.0.12');
    const s = {
      ...sources(fixture('../openssh-9.2/ssh-G-configured.txt'), nodeAddress),
      configFile: '/etc/slurm-kernels/ssh_config'
    };
    const config = await hostConfig('node2', s);
    expect(s.runner.calls[0].argv).toEqual([
      'ssh',
      '-F',
      '/etc/slurm-kernels/ssh_config',
      '-G',
      'node2'
    ]);
    expect(config).toEqual({
      certificateFiles: [],
      hostname: 'node2-ib.cluster.example',
      port: 2222,
      user: 'alice',
      identityFiles: ['/home/alice/.ssh/cluster_key'],
      knownHostsFiles: [
        '/home/alice/.ssh/cluster_known_hosts',
        '/var/lib/sss/pubconf/known_hosts'
      ],
      publicKeys: true,
      knownAs: ['testbed-nodes'],
      unsupported: [],
      proxyJump: []
    });
    // The config's HostName wins: Slurm is not asked.
    expect(nodeAddress).not.toHaveBeenCalled();
  });

  it("falls back to OpenSSH's defaults where ssh cannot evaluate its config", async () => {
    const config = await hostConfig(
      'node3',
      sources(
        new Error('ssh: command not found'),
        jest.fn().mockResolvedValue(undefined)
      )
    );
    expect(config).toMatchObject({
      hostname: 'node3',
      port: 22,
      knownAs: ['node3'],
      knownHostsFiles: expect.arrayContaining(['/etc/ssh/ssh_known_hosts'])
    });
  });

  it('names what the config logs in with that the companion cannot: hostbased authentication, certificates', async () => {
    const config = await hostConfig(
      'gpu-7',
      sources(
        fixture('../openssh-9.2/ssh-G-hostbased.txt'),
        jest.fn().mockResolvedValue(undefined)
      )
    );
    expect(config.unsupported).toEqual([
      'hostbased authentication (ssh-keysign)',
      'the certificate /home/alice/.ssh/id_ed25519-cert.pub'
    ]);
    // The login presents it (login/certificates.ts).
    expect(config.certificateFiles).toEqual([
      '/home/alice/.ssh/id_ed25519-cert.pub'
    ]);
  });

  it('offers no keys where the config turns public keys off (a node that takes hostbased logins only)', async () => {
    const config = await hostConfig(
      'hb-3',
      sources(
        fixture('../openssh-9.2/ssh-G-pubkey-off.txt'),
        jest.fn().mockResolvedValue(undefined)
      )
    );
    expect(config.publicKeys).toBe(false);
    expect(config.unsupported).toEqual([
      'hostbased authentication (ssh-keysign)'
    ]);
  });

  it('lists ProxyJump hops in order, and none where the config has none', async () => {
    const behind = await hostConfig(
      'behind',
      sources(fixture('../openssh-9.2/ssh-G-proxyjump.txt'))
    );
    expect(behind.hostname).toBe('10.77.0.9');
    expect(behind.proxyJump).toEqual([
      'alice@bastion.example.org:2222',
      'gate'
    ]);
    expect(behind.unsupported).toEqual([]);
    const plain = await hostConfig(
      'node1',
      sources(
        fixture('../openssh-9.2/ssh-G-default.txt'),
        jest.fn().mockResolvedValue(undefined)
      )
    );
    expect(plain.proxyJump).toEqual([]);
    expect(plain.proxyCommand).toBe(undefined);
  });

  it('expands ProxyCommand as OpenSSH does; the ProxyJump after it loses, as in OpenSSH', async () => {
    const proxied = await hostConfig(
      'proxied',
      sources(fixture('../openssh-9.2/ssh-G-proxycommand.txt'))
    );
    expect(proxied.proxyCommand).toBe(
      'env PROXY_FOR=alice@proxied PROXY_KEY=cluster-login nc -X connect -x proxy.example.org:8080 login.cluster.example 2200'
    );
    expect(proxied.proxyJump).toEqual([]);
    // The companion's ssh to nodes does not run it.
    expect(proxied.unsupported).toEqual([
      'ProxyCommand env PROXY_FOR=%r@%n PROXY_KEY=%k nc -X connect -x proxy.example.org:8080 %h %p'
    ]);
    // A hop's own is not followed: each hop is reached through the one before.
    const hop = await jumpHostConfig(
      'proxied',
      sources(fixture('../openssh-9.2/ssh-G-proxycommand.txt'))
    );
    expect(hop.proxyCommand).toBe(undefined);
  });
});

describe('a ProxyCommand line', () => {
  const tokens = { h: '10.0.0.5', p: '22', r: 'alice', n: 'hpc', k: 'hpc' };

  it('takes %h %p %r %n %k and %%, and none as no command', () => {
    expect(
      expandProxyCommand("ssh -W '[%h]:%p' -l %r gate # %n %k 100%%", tokens)
    ).toBe("ssh -W '[10.0.0.5]:22' -l alice gate # hpc hpc 100%");
    expect(expandProxyCommand('none', tokens)).toBe(undefined);
    expect(expandProxyCommand(undefined, tokens)).toBe(undefined);
  });

  it('refuses a token OpenSSH refuses there', () => {
    expect(() => expandProxyCommand('nc %C %h', tokens)).toThrow(
      'ProxyCommand nc %C %h: OpenSSH knows no token %C there (only %h %p %r %n %k %%)'
    );
  });
});

describe('a ProxyJump hop', () => {
  it('reads [ssh://][user@]host[:port], IPv6 in brackets, and refuses what is none of these', () => {
    expect(parseJumpHop('alice@bastion.example.org:2222')).toEqual({
      host: 'bastion.example.org',
      user: 'alice',
      port: 2222
    });
    expect(parseJumpHop('gate')).toEqual({
      host: 'gate',
      user: undefined,
      port: undefined
    });
    expect(parseJumpHop('ssh://bob@[2001:db8::1]:22')).toEqual({
      host: '2001:db8::1',
      user: 'bob',
      port: 22
    });
    expect(() => parseJumpHop('a:b:c')).toThrow(
      /cannot read the ProxyJump hop/
    );
  });
});
