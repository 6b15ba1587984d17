/**
 * Before a cluster is added: does the user's ssh make sense of the alias? `ssh -G` must accept the
 * config, and a host reached directly (no ProxyJump) must have an address here, so a typo is
 * refused at once with why instead of as a login that fails later.
 */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { parseSshG } from '../tunnel/hostConfig';
import type { ICommandRunner } from '../slurm';

export async function checkAlias(
  alias: string,
  ssh: { runner: ICommandRunner; configFile?: string }
): Promise<void> {
  const argv = ssh.configFile
    ? ['ssh', '-F', ssh.configFile, '-G', alias]
    : ['ssh', '-G', alias];
  const result = await ssh.runner.run(argv, { timeoutMs: 10_000 });
  if (result.code !== 0) {
    const said = result.stderr.trim().split('\n').pop();
    throw new Error(`ssh -G ${alias} failed: ${said || `exit ${result.code}`}`);
  }
  const config = parseSshG(result.stdout);
  const hostname = config.get('hostname')?.[0] ?? alias;
  const jump = config.get('proxyjump')?.[0];
  if ((jump && jump !== 'none') || net.isIP(hostname)) {
    return;
  }
  try {
    await dns.lookup(hostname);
  } catch {
    throw new Error(
      hostname === alias
        ? `no host ${hostname} is known here, and your ssh config has no Host ${alias} that names another`
        : `${hostname} (the HostName of ${alias} in your ssh config) has no address here`
    );
  }
}
