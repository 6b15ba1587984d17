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
 *
 * Errors go to stderr as one line, with a non-zero exit.
 */
import { CliError, CompanionClient } from './cli/client';
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
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const socketAt = rest.indexOf('--socket');
  const socket =
    socketAt >= 0 ? rest.splice(socketAt, 2)[1] : defaultSocketPath();
  if (!socket) {
    throw new CliError('--socket needs a path');
  }
  const client = new CompanionClient(socket);
  switch (command) {
    case 'serve': {
      const clusterAt = rest.indexOf('--cluster');
      if (clusterAt >= 0) {
        const alias = rest.splice(clusterAt, 2)[1];
        if (!alias || alias.startsWith('-')) {
          throw new CliError(
            '--cluster needs an ssh config alias or user@host'
          );
        }
        return serve(socket, ownVersion(), { cluster: alias });
      }
      // --unless-served: exit when another companion serves, rather than stand by (on-demand starts).
      return serve(socket, ownVersion(), {
        unlessServed: rest.includes('--unless-served')
      });
    }
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

main(process.argv.slice(2)).catch(err => {
  const known =
    err instanceof CliError ||
    (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
  process.stderr.write(
    `slurm-kernels: ${known ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`}\n`
  );
  process.exit(1);
});
