#!/usr/bin/env node
/**
 * `slurm-kernels`: the companion and its command line.
 *
 *   slurm-kernels serve [--socket PATH] [--unless-served] [--cluster ALIAS]
 *   slurm-kernels request -p PART --gres GRES -t TIME [--cpus N] [--mem SIZE] [--account A] [--qos Q]
 *                         [--constraint C] [--job-name N] [--env PRESET] [--wait] [--json]
 *   slurm-kernels list [--json] | cancel ID | keep ID | log ID   (ID: an allocation id or job id)
 *   slurm-kernels version                                  (the companion's version, and its Node)
 *   slurm-kernels doctor [--json] [--submit] [-p PART] [--env PRESET]   (checks this cluster)
 *   slurm-kernels clusters [--json] | clusters add ALIAS [--name NAME] | clusters remove NAME [--force]
 *
 * request, list, cancel, keep and log take --cluster NAME: one cluster of a lab that drives several.
 *
 * Errors go to stderr as one line, with a non-zero exit.
 */
import { CliError, CompanionClient } from './cli/client';
import { clusters } from './cli/clusters';
import { cancel, keep, list, log, request } from './cli/commands';
import { doctor } from './doctor';
import { ownVersion } from './paths';
import { serve } from './serve';
import { defaultSocketPath } from './state/files';

const USAGE = `usage: slurm-kernels serve [--socket PATH] [--unless-served] [--cluster ALIAS]
                             (--cluster: a lab on a laptop drives ALIAS, an ssh config alias or user@host)
       slurm-kernels request -p PARTITION -t TIME [--gres GRES] [--cpus N] [--mem SIZE] [--account A]
                             [--qos Q] [--constraint C] [--job-name NAME] [--env PRESET] [--wait] [--json]
       slurm-kernels list [--json]
       slurm-kernels cancel ID       (ID: an allocation id or its Slurm job id)
       slurm-kernels keep ID         (puts off a cancel for no kernel or idleness)
       slurm-kernels log ID
       slurm-kernels version
       slurm-kernels doctor [--json] [--submit] [-p PARTITION] [--env PRESET]
                             (checks what the product needs here; --submit also runs a test job)
       slurm-kernels clusters [--json]            (the clusters of this lab)
       slurm-kernels clusters add ALIAS [--name NAME]   (ALIAS: an ssh config alias or user@host)
       slurm-kernels clusters remove NAME [--force]
request, list, cancel, keep and log take --cluster NAME (one of: slurm-kernels clusters); without it,
list shows every cluster's allocations and an ID is looked for on each.
`;

const ALLOCATION_COMMANDS = new Set([
  'request',
  'list',
  'cancel',
  'keep',
  'log'
]);

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const socketAt = rest.indexOf('--socket');
  const socket =
    socketAt >= 0 ? rest.splice(socketAt, 2)[1] : defaultSocketPath();
  if (!socket) {
    throw new CliError('--socket needs a path');
  }
  const companion = new CompanionClient(socket);
  if (command === 'serve') {
    return serveCommand(socket, rest);
  }
  // Only the allocation commands are about one cluster of the lab; doctor checks where it runs.
  const clusterAt = ALLOCATION_COMMANDS.has(command)
    ? rest.indexOf('--cluster')
    : -1;
  const cluster = clusterAt >= 0 ? rest.splice(clusterAt, 2)[1] : undefined;
  if (clusterAt >= 0 && (!cluster || cluster.startsWith('-'))) {
    throw new CliError(
      '--cluster needs a cluster name (see: slurm-kernels clusters)'
    );
  }
  const client = cluster ? companion.forCluster(cluster) : companion;
  switch (command) {
    case 'request':
      return request(client, rest);
    case 'list':
      return list(client, rest);
    case 'cancel':
      return cancel(client, rest);
    case 'keep':
      return keep(client, rest);
    case 'log':
      return log(client, rest);
    case 'clusters':
      return clusters(client, rest);
    case 'doctor':
      // Exits at once: an ssh connection's last timer must not hold the report back.
      return process.exit(await doctor(rest));
    case 'version':
    case '--version':
      // Which Node runs it: the wheel's console script picks one (jupyterlab_slurm_kernels/_node.py).
      process.stdout.write(
        `slurm-kernels ${ownVersion()}\nnode ${process.version} ${process.execPath}\n`
      );
      return;
    default:
      process.stderr.write(USAGE);
      process.exit(2);
  }
}

function serveCommand(socket: string, rest: string[]): Promise<void> {
  const clusterAt = rest.indexOf('--cluster');
  if (clusterAt >= 0) {
    const alias = rest.splice(clusterAt, 2)[1];
    if (!alias || alias.startsWith('-')) {
      throw new CliError('--cluster needs an ssh config alias or user@host');
    }
    return serve(socket, ownVersion(), { cluster: alias });
  }
  // --unless-served: exit when another companion serves, rather than stand by (on-demand starts).
  return serve(socket, ownVersion(), {
    unlessServed: rest.includes('--unless-served')
  });
}

main(process.argv.slice(2)).catch(err => {
  const known =
    err instanceof CliError ||
    (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
  process.stderr.write(
    `slurm-kernels: ${known ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`}\n`
  );
  process.exit(1);
});
