/**
 * Host key verification against OpenSSH known_hosts files: plain and hashed (|1|salt|hash) host
 * patterns, wildcards, negations, [host]:port, and @revoked. A host with no matching entry is refused;
 * there is no "accept new keys" mode. @cert-authority lines are read only to say why a host they
 * vouch for is refused: ssh2 cannot negotiate host certificates, so a CA cannot vouch for a key.
 */
import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface IKnownHostEntry {
  patterns: string[];
  keyType: string;
  /** The key blob, base64, as in the file. */
  key: string;
  revoked: boolean;
  /** A CA's key that signs host certificates: never a host's own key. */
  certAuthority: boolean;
}

export function defaultKnownHostsFiles(home = os.homedir()): string[] {
  return [
    path.join(home, '.ssh', 'known_hosts'),
    path.join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2'
  ];
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

export function parseKnownHosts(text: string): IKnownHostEntry[] {
  const entries: IKnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const fields = line.split(/\s+/);
    let marker: string | null = null;
    if (fields[0].startsWith('@')) {
      marker = fields.shift() ?? null;
    }
    if (fields.length < 3) {
      continue;
    }
    entries.push({
      patterns: fields[0].split(','),
      keyType: fields[1],
      key: fields[2],
      revoked: marker === '@revoked',
      certAuthority: marker === '@cert-authority'
    });
  }
  return entries;
}

/** The names a host is known by in known_hosts: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) {
      return false;
    }
    const digest = createHmac('sha1', Buffer.from(salt, 'base64'))
      .update(name)
      .digest('base64');
    return digest === hash;
  }
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i'
  );
  return regex.test(name);
}

function entryMatches(entry: IKnownHostEntry, names: string[]): boolean {
  let matched = false;
  for (const pattern of entry.patterns) {
    const negated = pattern.startsWith('!');
    const bare = negated ? pattern.slice(1) : pattern;
    if (names.some(name => matchesPattern(bare, name))) {
      if (negated) {
        return false;
      }
      matched = true;
    }
  }
  return matched;
}

/**
 * Why a host key was refused: no entry names the host (a first connection, where a person may
 * accept it), the entries name another key (changed: never accepted), it is @revoked, or only a
 * @cert-authority line names the host.
 */
export type HostKeyRefusal = 'unknown' | 'changed' | 'revoked' | 'ca-only';

export type HostKeyVerdict =
  { ok: true } | { ok: false; refusal: HostKeyRefusal; reason: string };

/**
 * Decides whether `keyBlob` (the raw host key the server presented) is the known key of a host.
 */
export class KnownHosts {
  constructor(private readonly _entries: IKnownHostEntry[]) {}

  /**
   * The entries of `files`, read with `read` (by default from this host; a laptop reads the
   * cluster's files over SFTP); a file that does not exist is skipped.
   */
  static async load(
    files: string[] = defaultKnownHostsFiles(),
    read: (file: string) => Promise<string | undefined> = readIfExists
  ): Promise<KnownHosts> {
    const entries: IKnownHostEntry[] = [];
    for (const file of files) {
      entries.push(...parseKnownHosts((await read(file)) ?? ''));
    }
    return new KnownHosts(entries);
  }

  /**
   * `names` are every name the host was reached by (the name asked for and its address).
   */
  verify(names: string[], port: number, keyBlob: Buffer): HostKeyVerdict {
    const keys = names.map(n => knownHostsName(n, port));
    const presented = keyBlob.toString('base64');
    const named = this._entries.filter(e => entryMatches(e, keys));
    const matching = named.filter(e => !e.certAuthority);
    if (matching.some(e => e.revoked && e.key === presented)) {
      return {
        ok: false,
        refusal: 'revoked',
        reason: `the host key of ${names[0]} is marked @revoked`
      };
    }
    if (matching.some(e => !e.revoked && e.key === presented)) {
      return { ok: true };
    }
    if (matching.length > 0) {
      return {
        ok: false,
        refusal: 'changed',
        reason: `the host key of ${names[0]} does not match known_hosts: possible man-in-the-middle, or the host was reinstalled`
      };
    }
    if (named.length > 0) {
      return {
        ok: false,
        refusal: 'ca-only',
        reason: `${names[0]} is vouched for only by a @cert-authority line in known_hosts (an OpenSSH host certificate), which the companion's ssh cannot check: its own host key must be listed too (sites put their nodes' keys in /etc/ssh/ssh_known_hosts), or the srun relay used`
      };
    }
    return {
      ok: false,
      refusal: 'unknown',
      reason: `${names[0]} is not in known_hosts; connect once with ssh to verify and add its key`
    };
  }
}
