#!/usr/bin/env node
/**
 * The kernel shim: the process Jupyter Server starts for a remote kernelspec.
 *
 *   node shim.js [--socket PATH] --spec slurm-<job>-<name> CONNECTION_FILE
 *
 * It hands the connection file to the companion (which serves its ZMQ endpoints and talks to the
 * remote kernel) and lives exactly as long as the kernel: when Jupyter kills it, the companion shuts
 * the remote kernel down; when the remote kernel or its allocation ends, it exits with the reason on
 * stderr, which Jupyter shows in its log. When the companion goes away instead (killed, restarted),
 * the shim starts it again if need be and has it reattach to the same remote kernel, so the
 * notebook keeps its kernel, its variables and the output printed meanwhile.
 */
import http from 'node:http';
import path from 'node:path';
import { ensureCompanion } from '../launch';
import { defaultSocketPath } from '../state/files';
import { Backoff } from '../tunnel/backoff';

/** The companion's entry script, the shim's parent directory's main.js in the build and the wheel. */
const MAIN_SCRIPT = path.join(__dirname, '..', 'main.js');

interface IArgs {
  socket: string;
  spec: string;
  connectionFile: string;
}

/** What the companion said of the remote kernel it started or reattached. */
interface IStarted {
  remoteKernelId: string;
  sessionId: string;
  node: string;
  jobId: string;
}

/** How one request to the companion ended. */
type Outcome =
  | { kind: 'ended'; ok: boolean; message: string }
  | { kind: 'refused'; message: string }
  | { kind: 'lost'; why: string };

function parseArgs(argv: string[]): IArgs {
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

function say(message: string): void {
  process.stderr.write(`slurm-kernels: ${message}\n`);
}

function fail(message: string): never {
  say(message);
  process.exit(1);
}

/** How long the shim waits for a companion to come back, in ms (SLURM_KERNELS_SHIM_RECONNECT_S). */
function reconnectWindowMs(): number {
  const seconds = Number(process.env.SLURM_KERNELS_SHIM_RECONNECT_S);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 300) * 1000;
}

/** One request for the life of the kernel: POST /internal/kernels, then its stream of JSON lines. */
function askCompanion(
  socket: string,
  body: object,
  onStarted: (started: IStarted) => void,
  onSubscribers: (count: number) => void
): Promise<Outcome> {
  const payload = JSON.stringify(body);
  return new Promise(resolve => {
    const req = http.request(
      {
        socketPath: socket,
        method: 'POST',
        path: '/internal/kernels',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(payload)
        }
      },
      res => {
        const chunks: string[] = [];
        let buffered = '';
        let ended: Outcome | null = null;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (res.statusCode !== 200) {
            chunks.push(chunk);
            return;
          }
          buffered += chunk;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
            if (event.event === 'started') {
              onStarted(event as IStarted);
            } else if (event.event === 'subscribers') {
              onSubscribers(Number(event.count));
            } else if (event.event === 'ended') {
              ended = {
                kind: 'ended',
                ok: Boolean(event.ok),
                message: String(event.message)
              };
            }
          }
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            resolve({
              kind: 'refused',
              message: refusal(res.statusCode, chunks)
            });
            return;
          }
          resolve(ended ?? { kind: 'lost', why: 'the companion stopped' });
        });
        res.on('error', err => resolve({ kind: 'lost', why: err.message }));
      }
    );
    req.on('error', err =>
      resolve({
        kind: 'lost',
        why: `cannot reach the companion at ${socket}: ${err.message}`
      })
    );
    req.end(payload);
  });
}

function refusal(status: number | undefined, chunks: string[]): string {
  try {
    return (
      JSON.parse(chunks.join('')).message ??
      `the companion answered HTTP ${status}`
    );
  } catch {
    return `the companion answered HTTP ${status}`;
  }
}

async function main(): Promise<void> {
  const { socket, spec, connectionFile } = parseArgs(process.argv.slice(2));
  // Jupyter interrupts with a message (interrupt_mode "message"); a stray SIGINT must not kill us.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => process.exit(0));
  // Jupyter Server killed outright leaves its kernels' processes behind: a shim whose server is
  // gone exits, and the companion shuts its remote kernel down (it would hold GPU memory forever).
  const server = process.ppid;
  setInterval(() => process.ppid !== server && process.exit(0), 2_000).unref();
  let kernel = null as IStarted | null;
  // How many Jupyter clients took the kernel's output: the next companion waits for as many before
  // the gateway replays what the kernel printed while none ran.
  let subscribers: number | undefined;
  let lostSince: number | null = null;
  const backoff = new Backoff({ maxMs: 5_000 });
  for (;;) {
    const attach = kernel
      ? {
          remoteKernelId: kernel.remoteKernelId,
          sessionId: kernel.sessionId,
          subscribers
        }
      : undefined;
    const outcome = await askCompanion(
      socket,
      { spec, connectionFile, cwd: process.cwd(), attach },
      started => {
        say(
          kernel
            ? `reattached to kernel ${started.remoteKernelId} on ${started.node} (job ${started.jobId})`
            : `kernel ${started.remoteKernelId} on ${started.node} (job ${started.jobId})`
        );
        kernel = started;
        lostSince = null;
        backoff.succeed();
      },
      count => {
        subscribers = Number.isInteger(count) && count >= 0 ? count : undefined;
      }
    );
    if (outcome.kind === 'ended') {
      if (!outcome.ok) {
        fail(outcome.message);
      }
      process.exit(0);
    }
    if (outcome.kind === 'refused') {
      fail(outcome.message);
    }
    // The companion is gone, or was never started: start it, and reattach (or start) the kernel.
    const now = Date.now();
    if (lostSince === null) {
      lostSince = now;
      if (kernel) {
        say(`${outcome.why}; reconnecting to kernel ${kernel.remoteKernelId}`);
      }
    } else if (now - lostSince > reconnectWindowMs()) {
      fail(
        kernel
          ? `${outcome.why}, and did not come back in ${Math.round(reconnectWindowMs() / 1000)} s; the remote kernel is gone`
          : outcome.why
      );
    }
    await ensureCompanion(socket, MAIN_SCRIPT).catch(err =>
      say((err as Error).message)
    );
    await new Promise(resolve => setTimeout(resolve, backoff.fail()));
  }
}

void main();
