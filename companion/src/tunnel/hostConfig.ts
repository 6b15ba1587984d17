/**
 * How to reach a compute node by ssh, as the user's own `ssh` would: OpenSSH evaluates its config
 * (HostName, Port, User, IdentityFile, HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile, with
 * Include, Match and Host patterns) and prints the result with `ssh -G`, so nothing is parsed twice
 * or differently. Where OpenSSH's client is not installed, OpenSSH's defaults apply.
 *
 * Where the config names no HostName, the node's NodeAddr from Slurm is the address: on many
 * clusters a NodeName does not resolve, or resolves to another network than the one sshd is on.
 */
import os from 'node:os';
import path from 'node:path';
import { readNodeAddress } from '../slurm/nodes';
import type { ICommandRunner } from '../slurm/runner';
import { defaultKnownHostsFiles } from './knownHosts';

export interface IHostConfig {
  /** The address to connect to. */
  hostname: string;
  port: number;
  user: string;
  /** Private keys to offer, in order (missing ones are skipped). */
  identityFiles: string[];
  /** CertificateFile entries (OpenSSH also tries each identity's `-cert.pub` beside it). */
  certificateFiles?: string[];
  /**
   * Whether to log in with keys at all, files or agent: `PubkeyAuthentication no` (a site whose
   * nodes take hostbased logins only) must not have the companion offer the user's keys anyway.
   */
  publicKeys: boolean;
  /** Where the host's key must be listed. */
  knownHostsFiles: string[];
  /** The names the host key may be listed under (HostKeyAlias, else the names it has). */
  knownAs: string[];
  /**
   * What the config logs in with that ssh2 cannot do (hostbased authentication, OpenSSH
   * certificates): named when authentication fails, so the user learns why their own ssh works.
   */
  unsupported: string[];
  /**
   * ProxyJump's hops, in order, as the config gives them ([user@]host[:port], each reached
   * through the one before; the host itself through the last); empty where there are none.
   */
  proxyJump: string[];
  /**
   * ProxyCommand, its tokens expanded: the command line whose stdin and stdout carry the
   * connection (login/proxyCommand.ts runs it for the login); undefined where there is none.
   * OpenSSH takes whichever of ProxyJump and ProxyCommand comes first, and `ssh -G` prints only it.
   */
  proxyCommand?: string;
}

/** One ProxyJump hop: `[ssh://][user@]host[:port]`. */
export function parseJumpHop(hop: string): {
  host: string;
  user?: string;
  port?: number;
} {
  const match =
    /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(
      hop.trim()
    );
  if (!match) {
    throw new Error(`cannot read the ProxyJump hop "${hop}"`);
  }
  return {
    host: match[2].replace(/^\[|\]$/g, ''),
    user: match[1],
    port: match[3] ? Number(match[3]) : undefined
  };
}

/** Fields of `ssh -G` output ("key value", keys lower case; identityfile repeats). */
export function parseSshG(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (match) {
      fields.set(match[1], [...(fields.get(match[1]) ?? []), match[2]]);
    }
  }
  return fields;
}

export interface IHostConfigSources {
  /** Runs `ssh -G`; a runner that cannot run it leaves OpenSSH's defaults. */
  runner: ICommandRunner;
  /** Slurm's NodeAddr of the node, where it differs from its name. */
  nodeAddress?: () => Promise<string | undefined>;
  /** An ssh config file to read instead of ~/.ssh/config (ssh -F). */
  configFile?: string;
  home?: string;
  user?: string;
}

export async function hostConfig(
  host: string,
  sources: IHostConfigSources
): Promise<IHostConfig> {
  const home = sources.home ?? os.homedir();
  const argv = sources.configFile
    ? ['ssh', '-F', sources.configFile, '-G', host]
    : ['ssh', '-G', host];
  const evaluated = await sources.runner
    .run(argv, { timeoutMs: 10_000 })
    .then(r =>
      r.code === 0 ? parseSshG(r.stdout) : new Map<string, string[]>()
    )
    .catch(() => new Map<string, string[]>());
  const one = (key: string) => evaluated.get(key)?.[0];
  const configured = one('hostname');
  const nodeAddress =
    configured && configured !== host
      ? undefined
      : await sources.nodeAddress?.().catch(() => undefined);
  const hostname =
    configured && configured !== host ? configured : (nodeAddress ?? host);
  const alias = one('hostkeyalias');
  const port = Number(one('port') ?? 22) || 22;
  const user = one('user') ?? sources.user ?? os.userInfo().username;
  const knownHostsFiles = [
    ...(evaluated.get('userknownhostsfile') ?? []),
    ...(evaluated.get('globalknownhostsfile') ?? [])
  ]
    .flatMap(list => list.split(/\s+/))
    .filter(file => file && file !== 'none')
    .map(file => expandHome(file, home));
  return {
    hostname,
    port,
    user,
    identityFiles: (
      evaluated.get('identityfile') ??
      ['id_rsa', 'id_ecdsa', 'id_ed25519'].map(f => `~/.ssh/${f}`)
    ).map(file => expandHome(file, home)),
    certificateFiles: (evaluated.get('certificatefile') ?? []).map(file =>
      expandHome(file, home)
    ),
    // `ssh -G` prints yes/no as true/false for this one (OpenSSH 9.2).
    publicKeys: !['no', 'false'].includes(one('pubkeyauthentication') ?? ''),
    knownHostsFiles:
      knownHostsFiles.length > 0
        ? knownHostsFiles
        : defaultKnownHostsFiles(home),
    knownAs: alias ? [alias] : [...new Set([host, hostname])],
    unsupported: unsupportedLogins(evaluated, home),
    proxyJump:
      (one('proxyjump') ?? 'none') === 'none'
        ? []
        : (one('proxyjump') as string).split(','),
    proxyCommand: expandProxyCommand(one('proxycommand'), {
      h: hostname,
      p: String(port),
      r: user,
      n: host,
      k: alias ?? host
    })
  };
}

/**
 * ProxyCommand with its tokens expanded as OpenSSH 9.2 expands them (sshconnect.c
 * expand_proxy_command; `ssh -G` prints them unexpanded): %h the HostName, %p the port, %r the
 * user, %n the name as given, %k the HostKeyAlias else that name, %% a %. OpenSSH refuses any other
 * token, and so does this; `none` is no command.
 */
export function expandProxyCommand(
  command: string | undefined,
  tokens: Record<'h' | 'p' | 'r' | 'n' | 'k', string>
): string | undefined {
  if (command === undefined || command === 'none') {
    return undefined;
  }
  return command.replace(/%(.?)/g, (token, key: string) => {
    if (key === '%') {
      return '%';
    }
    if (!(key in tokens)) {
      throw new Error(
        `ProxyCommand ${command}: OpenSSH knows no token ${token} there (only %h %p %r %n %k %%)`
      );
    }
    return tokens[key as keyof typeof tokens];
  });
}

/**
 * A ProxyJump hop's settings: its own config (`ssh -G HOST`), the user and port the hop names
 * winning. A hop's own ProxyJump and ProxyCommand are not followed (the chain is the one the
 * host's config gives, each hop reached through the one before).
 */
export async function jumpHostConfig(
  hop: string,
  sources: IHostConfigSources
): Promise<IHostConfig> {
  const { host, user, port } = parseJumpHop(hop);
  const config = await hostConfig(host, sources);
  return {
    ...config,
    user: user ?? config.user,
    port: port ?? config.port,
    proxyJump: [],
    proxyCommand: undefined
  };
}

function unsupportedLogins(
  evaluated: Map<string, string[]>,
  home: string
): string[] {
  const unsupported: string[] = [];
  if (evaluated.get('hostbasedauthentication')?.[0] === 'yes') {
    unsupported.push('hostbased authentication (ssh-keysign)');
  }
  // The login runs it (login/proxyCommand.ts); the companion's ssh to nodes does not.
  if (evaluated.has('proxycommand')) {
    unsupported.push(`ProxyCommand ${evaluated.get('proxycommand')?.[0]}`);
  }
  // The login (login/certificates.ts) presents them; the companion's ssh to nodes does not yet.
  for (const file of evaluated.get('certificatefile') ?? []) {
    unsupported.push(`the certificate ${expandHome(file, home)}`);
  }
  return unsupported;
}

function expandHome(file: string, home: string): string {
  return file === '~' || file.startsWith('~/')
    ? path.join(home, file.slice(1))
    : file;
}

/**
 * How the companion reaches a node, for its SshPool (and the doctor's, which must check the same):
 * as the user's own ssh would; SLURM_KERNELS_SSH_CONFIG replaces ~/.ssh/config.
 */
export function companionHostConfig(
  runner: ICommandRunner,
  env: NodeJS.ProcessEnv = process.env
): (host: string) => Promise<IHostConfig> {
  return host =>
    hostConfig(host, {
      runner,
      nodeAddress: () => readNodeAddress(runner, host),
      configFile: env.SLURM_KERNELS_SSH_CONFIG
    });
}
