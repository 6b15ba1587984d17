/**
 * The compute nodes, from a laptop: each node's sshd is reached through the one login to the
 * cluster (a stream the login node opens to it), and ssh runs end to end over that stream with
 * the laptop's own key, so no key or agent is forwarded to the cluster. How to reach a node is
 * the cluster's business: `ssh -G NODE` run on the login node (the user's ssh config there),
 * else Slurm's NodeAddr; its host key is checked against the known_hosts files that config names
 * (the user's there, the site's /etc/ssh/ssh_known_hosts), read over SFTP: a laptop's own files
 * rarely list compute nodes.
 */
import { readNodeAddress } from '../slurm/nodes';
import { hostConfig, IHostConfig } from '../tunnel/hostConfig';
import { KnownHosts } from '../tunnel/knownHosts';
import { ISshPoolOptions, SshPool } from '../tunnel/ssh';
import type { LoginLink } from './link';
import { RemoteFiles } from './remoteFiles';
import { RemoteRunner } from './remoteRunner';

export interface INodesThroughLogin {
  link: LoginLink;
  /** The login's own settings (the laptop's ssh config): its user and keys log in to nodes too. */
  login: () => Promise<IHostConfig>;
  /** Passed on to the pool (backoff, readiness timeout). */
  pool?: Pick<ISshPoolOptions, 'backoff' | 'readyTimeoutMs' | 'interactive'>;
}

export function nodesThroughLogin(o: INodesThroughLogin): SshPool {
  const runner = new RemoteRunner(o.link);
  const files = new RemoteFiles(o.link);
  return new SshPool({
    ...o.pool,
    hostConfig: async node => {
      const login = await o.login();
      const there = await hostConfig(node, {
        runner,
        nodeAddress: () => readNodeAddress(runner, node),
        home: await files.home(),
        user: login.user
      });
      return {
        ...there,
        identityFiles: login.identityFiles,
        publicKeys: login.publicKeys
      };
    },
    knownHosts: known => KnownHosts.load(known, file => files.readText(file)),
    via: (address, port) => o.link.forward(address, port)
  });
}
