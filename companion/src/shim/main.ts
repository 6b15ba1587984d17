#!/usr/bin/env node
/**
 * The kernel shim: the process Jupyter Server starts for a remote kernelspec.
 *
 *   node shim.js [--socket PATH] --spec slurm-<job>-<name> CONNECTION_FILE
 *
 * It hands the connection file to the companion (which serves its ZMQ endpoints and talks to the
 * remote kernel) and lives exactly as long as the kernel: when Jupyter kills it, the companion shuts
 * the remote kernel down; when the remote kernel or its allocation ends, it exits with the reason on
 * stderr, which Jupyter shows in its log.
 */
import http from 'node:http';
import { defaultSocketPath } from '../state/files';

function parseArgs(argv: string[]): {
  socket: string;
  spec: string;
  connectionFile: string;
} {
  const value = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  // Without --socket: this host's companion, found as the companion finds its own socket.
  const socket = value('--socket') ?? defaultSocketPath();
  const spec = value('--spec');
  const connectionFile = argv[argv.length - 1];
  if (!socket || !spec || !connectionFile || connectionFile.startsWith('--')) {
    process.stderr.write(
      'usage: shim [--socket PATH] --spec NAME CONNECTION_FILE\n'
    );
    process.exit(2);
  }
  return { socket, spec, connectionFile };
}

function fail(message: string): never {
  process.stderr.write(`slurm-kernels: ${message}\n`);
  process.exit(1);
}

function main(): void {
  const { socket, spec, connectionFile } = parseArgs(process.argv.slice(2));
  const body = JSON.stringify({ spec, connectionFile, cwd: process.cwd() });
  const req = http.request(
    {
      socketPath: socket,
      method: 'POST',
      path: '/internal/kernels',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body)
      }
    },
    res => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let message = `the companion answered HTTP ${res.statusCode}`;
          try {
            message =
              JSON.parse(Buffer.concat(chunks).toString('utf8')).message ??
              message;
          } catch {
            // keep the status line
          }
          fail(message);
        });
        return;
      }
      let buffered = '';
      let ended: { ok: boolean; message: string } | null = null;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const event = JSON.parse(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          if (event.event === 'started') {
            process.stderr.write(
              `slurm-kernels: kernel ${event.remoteKernelId} on ${event.node} (job ${event.jobId})\n`
            );
          } else if (event.event === 'ended') {
            ended = { ok: Boolean(event.ok), message: String(event.message) };
          }
        }
      });
      res.on('end', () => {
        if (!ended) {
          fail('the companion stopped; the remote kernel is gone');
        }
        if (!ended.ok) {
          fail(ended.message);
        }
        process.exit(0);
      });
    }
  );
  req.on('error', err =>
    fail(`cannot reach the companion at ${socket}: ${err.message}`)
  );
  req.end(body);
  // Jupyter interrupts with a message (interrupt_mode "message"); a stray SIGINT must not kill us.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => process.exit(0));
}

main();
