#!/usr/bin/env node
/**
 * `slurm-kernels`: the companion and its command line.
 *
 *   slurm-kernels serve [--socket PATH]
 *   slurm-kernels request -p PART --gres GRES -t TIME [--cpus N] [--mem SIZE] [--account A] [--qos Q]
 *                         [--constraint C] [--job-name N] [--env PRESET] [--wait] [--json]
 *   slurm-kernels list [--json] | cancel ID | log ID
 *
 * Errors go to stderr as one line, with a non-zero exit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, CompanionClient } from './cli/client';
import { cancel, list, log, request } from './cli/commands';
import { serve } from './serve';
import { defaultSocketPath } from './state/files';

const USAGE = `usage: slurm-kernels serve [--socket PATH]
       slurm-kernels request -p PARTITION -t TIME [--gres GRES] [--cpus N] [--mem SIZE] [--account A]
                             [--qos Q] [--constraint C] [--job-name NAME] [--env PRESET] [--wait] [--json]
       slurm-kernels list [--json]
       slurm-kernels cancel ID
       slurm-kernels log ID
`;

/** The version in the companion's package.json, found by walking up from this file (src/ or dist/). */
function readOwnVersion(): string {
  for (
    let dir = __dirname;
    dir !== path.dirname(dir);
    dir = path.dirname(dir)
  ) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8'));
      if (pkg.name === 'jupyterlab-slurm-kernels-companion') {
        return pkg.version;
      }
    }
  }
  return 'unknown';
}

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
    case 'serve':
      return serve(socket, readOwnVersion());
    case 'request':
      return request(client, rest);
    case 'list':
      return list(client, rest);
    case 'cancel':
      return cancel(client, rest);
    case 'log':
      return log(client, rest);
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
