#!/usr/bin/env node
/**
 * `slurm-kernels`: the companion's command line.
 *
 *   slurm-kernels serve --socket PATH   serve the companion API on a 0600 unix socket
 */
import fs from 'node:fs';
import path from 'node:path';
import { createApp, listenOnSocket } from './http/app';
import { createLogger } from './log';
import { CachedCluster } from './routes/cluster';
import { LocalRunner } from './slurm';

const VERSION = readOwnVersion();

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

function usage(): never {
  process.stderr.write('usage: slurm-kernels serve --socket PATH\n');
  process.exit(2);
}

async function serve(args: string[]): Promise<void> {
  const at = args.indexOf('--socket');
  const socketPath = at >= 0 ? args[at + 1] : undefined;
  if (!socketPath) {
    usage();
  }
  const log = createLogger();
  const runner = new LocalRunner();
  const app = createApp({
    cluster: new CachedCluster(runner),
    log,
    version: VERSION
  });
  const listening = await listenOnSocket(app, socketPath);
  log.info({ socket: socketPath, version: VERSION }, 'companion listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'companion stopping');
    void listening.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'serve') {
    await serve(rest);
  } else {
    usage();
  }
}

main(process.argv.slice(2)).catch(err => {
  process.stderr.write(
    `slurm-kernels: ${err instanceof Error ? err.message : String(err)}\n`
  );
  process.exit(1);
});
