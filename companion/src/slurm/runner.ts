import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/**
 * The result of a finished command.
 */
export interface ICommandResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Options of one command run.
 */
export interface IRunOptions {
  /** Written to the child's stdin, then stdin is closed (job scripts go to sbatch this way). */
  input?: string;
  /** Milliseconds before the child is killed; the default suits Slurm clients, which retry ~10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs an external command given as an argv array. Never a shell string: no value the user typed
 * is ever parsed by a shell.
 *
 * The local implementation runs on this host; a remote one (ssh2 exec to the login node) has the same
 * contract, so Slurm code does not know where it runs.
 */
export interface ICommandRunner {
  run(argv: readonly string[], options?: IRunOptions): Promise<ICommandResult>;
}

/**
 * A command whose stdio carries a byte stream while it runs (an srun step's relay): its stdout is
 * read and its stdin written through `stream`.
 */
export interface IStreamedCommand {
  readonly stream: Duplex;
  /** Resolves when it exited, with the end of what it wrote to stderr (why it failed). */
  readonly exited: Promise<IStreamExit>;
  /** Ends it: closes its stdin, then SIGTERM after a grace (never SIGKILL: srun would leak its step). */
  stop(): void;
}

/** How a streamed command ended. */
export interface IStreamExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface IStreamOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * The error its stream ends with when it exits having written nothing (it never started: srun
   * refused the step); undefined for a plain end.
   */
  failedStart?: (exit: IStreamExit) => Error | undefined;
}

/** The streamed commands one user of them runs: each forgotten once it exits, all stopped at once. */
export class RunningStreams {
  /** Keeps `command` until it exits; its stream. */
  add(command: IStreamedCommand): Duplex {
    this._running.add(command);
    void command.exited.then(() => this._running.delete(command));
    return command.stream;
  }

  get size(): number {
    return this._running.size;
  }

  stopAll(): void {
    this._running.forEach(command => command.stop());
    this._running.clear();
  }

  private _running = new Set<IStreamedCommand>();
}

/** Starts streamed commands; the local one spawns, a remote one (ssh2 exec) has the same contract. */
export interface IStreamRunner {
  stream(argv: readonly string[], options?: IStreamOptions): IStreamedCommand;
}

/** A command that could not run, timed out, or exited non-zero. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly result?: ICommandResult
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const KILL_GRACE_MS = 2_000;
/** Output beyond this is dropped: a runaway command must not exhaust the companion's memory. */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * Variables that change what Slurm's commands print or submit: a user's `SQUEUE_FORMAT`,
 * `SLURM_TIME_FORMAT=relative` or `SBATCH_EXPORT` would reformat, filter or alter what we parse and
 * submit; and a lab that itself runs in a Slurm job (Open OnDemand) carries that job's `SLURM_*`,
 * which sbatch would take as settings for ours. `SLURM_CONF` says which cluster: it stays.
 */
export const SLURM_CLIENT_PREFIXES = [
  'SLURM_',
  'SQUEUE_',
  'SINFO_',
  'SACCT_',
  'SACCTMGR_',
  'SBATCH_',
  'SALLOC_',
  'SRUN_',
  'SCANCEL_',
  'SCONTROL_',
  'SPRIO_',
  'SSHARE_',
  'SSTAT_'
];
const SLURM_CLIENT_VARIABLE = new RegExp(
  `^(${SLURM_CLIENT_PREFIXES.join('|')})`
);
export const KEPT_SLURM_VARIABLES = new Set(['SLURM_CONF']);

/** The environment Slurm's commands run with: the user's own, less what would change their output. */
export function slurmCommandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (!SLURM_CLIENT_VARIABLE.test(name) || KEPT_SLURM_VARIABLES.has(name)) {
      clean[name] = value;
    }
  }
  // ISO 8601 times, whatever the site's default ("standard" is Slurm's own default format).
  clean.SLURM_TIME_FORMAT = 'standard';
  return clean;
}

/**
 * Runs commands on this host with `child_process.spawn` (no shell), in `slurmCommandEnv`.
 */
export class LocalRunner implements ICommandRunner {
  constructor(env: NodeJS.ProcessEnv = process.env) {
    this._env = slurmCommandEnv(env);
  }

  run(
    argv: readonly string[],
    options: IRunOptions = {}
  ): Promise<ICommandResult> {
    if (argv.length === 0) {
      return Promise.reject(new CommandError('empty command', argv));
    }
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), {
        env: this._env,
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false
      });
      const stdout = new Private.CappedBuffer(MAX_OUTPUT_BYTES);
      const stderr = new Private.CappedBuffer(MAX_OUTPUT_BYTES);
      let failure: Error | null = null;

      const kill = (reason: string) => {
        failure ??= new CommandError(`${argv[0]} ${reason}`, argv);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
      };
      const timer = setTimeout(
        () =>
          kill(`timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`),
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS
      );
      const onAbort = () => kill('was aborted');
      options.signal?.addEventListener('abort', onAbort, { once: true });

      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.stdin.on('error', () => undefined); // EPIPE when the child exits before reading its input
      child.on('error', err => {
        failure ??= new CommandError(
          `cannot run ${argv[0]}: ${err.message}`,
          argv
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const result = {
          code,
          signal,
          stdout: stdout.text(),
          stderr: stderr.text()
        };
        if (failure) {
          reject(new CommandError(failure.message, argv, result));
        } else {
          resolve(result);
        }
      });
      child.stdin.end(options.input ?? '');
    });
  }

  /**
   * Starts a command whose stdio is a stream, in its own process group: a signal to the
   * companion's group (Ctrl-C, a group kill) must not reach srun and its shepherd together, which
   * leaks the step; the companion gone, its stdin closes and it ends by itself.
   */
  stream(
    argv: readonly string[],
    options: IStreamOptions = {}
  ): IStreamedCommand {
    const child = spawn(argv[0], argv.slice(1), {
      env: { ...this._env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      detached: true
    });
    const stderr = new Private.TailBuffer(STDERR_TAIL_BYTES);
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const exited = new Promise<IStreamExit>(resolve => {
      child.once('error', err => {
        stderr.push(Buffer.from(`cannot run ${argv[0]}: ${err.message}`));
        resolve({ code: null, signal: null, stderr: stderr.text() });
      });
      child.once('close', (code, signal) =>
        resolve({ code, signal, stderr: stderr.text() })
      );
    });
    const stream = new Private.ChildStream(child);
    let stopping = false;
    const stop = () => {
      if (stopping) {
        return;
      }
      stopping = true;
      child.stdin.end();
      if (!stream.received) {
        // Not started (srun waiting for its step) reads no stdin: it would outlive the companion.
        child.kill('SIGTERM');
        return;
      }
      const term = setTimeout(() => child.kill('SIGTERM'), STOP_GRACE_MS);
      term.unref();
      void exited.then(() => clearTimeout(term));
    };
    stream.once('close', stop);
    void exited.then(exit => {
      const failure = stream.received ? undefined : options.failedStart?.(exit);
      if (failure) {
        stream.destroy(failure);
      } else {
        stream.childExited();
      }
    });
    return { stream, exited, stop };
  }

  private readonly _env: NodeJS.ProcessEnv;
}

/** How long a streamed command may take to end after its stdin closed, before SIGTERM. */
const STOP_GRACE_MS = 3_000;
const STDERR_TAIL_BYTES = 4096;

/**
 * Runs a command and returns its stdout; a non-zero exit becomes a CommandError carrying stderr.
 */
export async function runChecked(
  runner: ICommandRunner,
  argv: readonly string[],
  options?: IRunOptions
): Promise<string> {
  const result = await runner.run(argv, options);
  if (result.code !== 0) {
    const detail =
      result.stderr.trim() ||
      result.stdout.trim() ||
      `exit ${result.code ?? result.signal}`;
    throw new CommandError(`${argv[0]} failed: ${detail}`, argv, result);
  }
  return result.stdout;
}

namespace Private {
  /** A child's stdout and stdin as one Duplex (the gateway client gives it socket methods). */
  export class ChildStream extends Duplex {
    constructor(private readonly _child: ReturnType<typeof spawn>) {
      super({ allowHalfOpen: false });
      const out = _child.stdout as NodeJS.ReadableStream;
      out.on('data', this._onData);
      // An end with nothing before it waits for the exit: that may say why it never started.
      out.on('end', () => {
        if (this.received) {
          this._end();
        } else {
          this._silentEnd = true;
        }
      });
      _child.stdin?.on('error', err => this.destroy(err));
    }

    /** Whether the child wrote anything (it started). */
    received = false;

    /** The child is gone: destroyed at once unless what it wrote is still to be read. */
    childExited(): void {
      if (this._silentEnd) {
        this._end();
      }
      if (this.destroyed) {
        return;
      }
      if (this.readableEnded || this.readableLength === 0) {
        this.destroy();
      } else {
        this.once('end', () => this.destroy());
      }
    }

    _destroy(err: Error | null, done: (err?: Error | null) => void): void {
      // What the child still writes is drained and dropped, so that it (and its 'close') can end.
      const out = this._child.stdout as NodeJS.ReadableStream;
      out.removeListener('data', this._onData);
      out.resume();
      this._child.stdin?.end();
      done(err);
    }

    private _end(): void {
      if (!this.destroyed) {
        this.push(null);
      }
    }

    private _silentEnd = false;

    private readonly _onData = (chunk: Buffer): void => {
      this.received = true;
      if (!this.push(chunk)) {
        (this._child.stdout as NodeJS.ReadableStream).pause();
      }
    };

    _read(): void {
      (this._child.stdout as NodeJS.ReadableStream).resume();
    }

    _write(
      chunk: Buffer,
      _encoding: BufferEncoding,
      done: (err?: Error | null) => void
    ): void {
      this._child.stdin?.write(chunk, done);
    }

    _final(done: (err?: Error | null) => void): void {
      this._child.stdin?.end(done);
    }
  }

  /** The last bytes of a stream. */
  export class TailBuffer {
    constructor(private readonly _limit: number) {}

    push(chunk: Buffer): void {
      this._kept = Buffer.concat([this._kept, chunk]);
      if (this._kept.length > this._limit) {
        this._kept = this._kept.subarray(this._kept.length - this._limit);
      }
    }

    text(): string {
      return this._kept.toString('utf8');
    }

    private _kept = Buffer.alloc(0);
  }

  export class CappedBuffer {
    constructor(private readonly _limit: number) {}

    push(chunk: Buffer): void {
      const room = this._limit - this._size;
      if (room <= 0) {
        return;
      }
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this._chunks.push(kept);
      this._size += kept.length;
    }

    text(): string {
      return Buffer.concat(this._chunks).toString('utf8');
    }

    private _chunks: Buffer[] = [];
    private _size = 0;
  }
}
