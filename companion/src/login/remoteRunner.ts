/**
 * Slurm's commands on the login node, over the laptop's one connection: the same contract as
 * LocalRunner (an argv array, stdin, a timeout), so Slurm code does not know where it runs.
 *
 * An ssh exec request carries one string, which the user's login shell parses (sshd runs
 * `$SHELL -c STRING`): no way around a string here. Every word is single-quoted, so no value the
 * user typed is ever interpreted; the words run under `sh -c` with a fixed script, which clears
 * the variables that would change what Slurm prints (slurmCommandEnv's rule) and then execs them.
 * That holds for sh, bash, zsh and csh/tcsh login shells: csh cannot quote a newline, so the
 * string has none; words travel with backslashes doubled and newlines as `\n`, and the script
 * turns them back (printf %b) before it runs them.
 */
import { Duplex, PassThrough } from 'node:stream';
import {
  CommandError,
  ICommandResult,
  ICommandRunner,
  IRunOptions,
  IStreamedCommand,
  IStreamExit,
  IStreamOptions,
  IStreamRunner,
  KEPT_SLURM_VARIABLES,
  SLURM_CLIENT_PREFIXES
} from '../slurm/runner';
import { shellQuote } from '../gateway/jobScript';
import type { LoginLink } from './link';

/** A word as printf's %b gives it back: backslashes doubled, newlines as `\n`. */
function encodeWord(word: string): string {
  return word.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * Unsets the user's Slurm client variables (SLURM_CONF kept), sets ISO times, runs "$@".
 * `set -f`: the names come from an unquoted $(...), which must not glob.
 */
const CLEAN_SLURM_ENV = [
  'set -f',
  // Each word back as it was (see encodeWord); the `x` keeps trailing newlines from $(...).
  'n=$#; while [ "$n" -gt 0 ]; do w=$(printf \'%bx\' "$1"); shift; set -- "$@" "${w%x}"; n=$((n - 1)); done',
  `for v in $(env | cut -d= -f1); do case $v in ${[...KEPT_SLURM_VARIABLES].join('|')}) ;; ${SLURM_CLIENT_PREFIXES.map(p => `${p}*`).join('|')}) unset "$v" ;; esac; done`,
  'SLURM_TIME_FORMAT=standard',
  'export SLURM_TIME_FORMAT',
  'exec "$@"'
].join('; ');

/**
 * The exec string that runs `argv` on the login node as LocalRunner runs it here, with `env`'s
 * variables added (through `env NAME=VALUE`, after the Slurm variables were cleared).
 */
export function remoteCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {}
): string {
  const assignments = Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}`);
  const words = assignments.length ? ['env', ...assignments, ...argv] : argv;
  return [
    ...['sh', '-c', CLEAN_SLURM_ENV, 'sh'].map(shellQuote),
    ...words.map(word => shellQuote(encodeWord(word)))
  ].join(' ');
}

/** How long a streamed command may take to end after its stdin closed, before it is signalled. */
const STOP_GRACE_MS = 3_000;
const STDERR_TAIL_BYTES = 4096;

export class RemoteRunner implements ICommandRunner, IStreamRunner {
  constructor(private readonly _link: LoginLink) {}

  async run(
    argv: readonly string[],
    options: IRunOptions = {}
  ): Promise<ICommandResult> {
    if (argv.length === 0) {
      throw new CommandError('empty command', argv);
    }
    try {
      return await this._link.exec(remoteCommand(argv), options);
    } catch (err) {
      if (err instanceof CommandError) {
        throw err;
      }
      throw new CommandError(
        `${argv[0]} on the login node: ${(err as Error).message}`,
        argv
      );
    }
  }

  /**
   * A command whose stdio is a stream, as LocalRunner.stream starts one (an srun relay step on
   * the login node): its exec channel, opened in the background; a failed start (it exited
   * having written nothing) ends the stream with `failedStart`'s error.
   */
  stream(
    argv: readonly string[],
    options: IStreamOptions = {}
  ): IStreamedCommand {
    const stream = new PassThrough();
    const input = new PassThrough();
    let stopping = false;
    let stderr = '';
    let settle: (exit: IStreamExit) => void = () => undefined;
    const exited = new Promise<IStreamExit>(resolve => (settle = resolve));
    let received = false;
    let channel: Awaited<ReturnType<LoginLink['execStream']>> | undefined;
    const stop = () => {
      if (stopping) {
        return;
      }
      stopping = true;
      input.end();
      if (!channel) {
        return;
      }
      channel.end();
      // srun ends with its stdin; one that does not is signalled, never killed outright.
      const term = setTimeout(() => channel?.signal('TERM'), STOP_GRACE_MS);
      term.unref();
      void exited.then(() => clearTimeout(term));
    };
    this._link.execStream(remoteCommand(argv, options.env)).then(
      opened => {
        channel = opened;
        let code: number | null = null;
        let signal: NodeJS.Signals | null = null;
        opened.on('data', (chunk: Buffer) => {
          received = true;
          stream.write(chunk);
        });
        opened.stderr.on('data', (chunk: Buffer) => {
          stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
        });
        opened.on('exit', (exitCode: number | null, exitSignal?: string) => {
          code = exitCode ?? null;
          signal = exitSignal ? (`SIG${exitSignal}` as NodeJS.Signals) : null;
        });
        opened.once('close', () => {
          const exit = { code, signal, stderr };
          const failure = received ? undefined : options.failedStart?.(exit);
          if (failure) {
            stream.destroy(failure);
          } else {
            stream.end();
          }
          settle(exit);
        });
        input.pipe(opened);
        if (stopping) {
          stopping = false;
          stop();
        }
      },
      (err: Error) => {
        const exit = { code: null, signal: null, stderr: err.message };
        stream.destroy(options.failedStart?.(exit) ?? err);
        settle(exit);
      }
    );
    const duplex = new StreamedDuplex(stream, input);
    duplex.once('close', stop);
    return { stream: duplex, exited, stop };
  }
}

/** What the command writes, read; what is written, sent to it: one Duplex, as LocalRunner's. */
class StreamedDuplex extends Duplex {
  constructor(
    private readonly _out: PassThrough,
    private readonly _in: PassThrough
  ) {
    super({ allowHalfOpen: false });
    _out.on('data', chunk => {
      if (!this.push(chunk)) {
        _out.pause();
      }
    });
    _out.once('end', () => this.push(null));
    _out.once('error', err => this.destroy(err));
  }

  _read(): void {
    this._out.resume();
  }

  _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (err?: Error | null) => void
  ): void {
    this._in.write(chunk, callback);
  }

  _final(callback: () => void): void {
    this._in.end();
    callback();
  }

  _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this._in.end();
    callback(err);
  }
}
