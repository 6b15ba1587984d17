/**
 * Slurm's commands on the login node, over the laptop's one connection: the same contract as
 * LocalRunner (an argv array, stdin, a timeout), so Slurm code does not know where it runs.
 *
 * An ssh exec request carries one string, which the user's login shell parses (sshd runs
 * `$SHELL -c STRING`): no way around a string here. Every word is single-quoted, so no value the
 * user typed is ever interpreted; the words run under `sh -c` with a fixed script, which clears
 * the variables that would change what Slurm prints (slurmCommandEnv's rule) and then execs them.
 * That holds for sh, bash, zsh and csh/tcsh login shells; a newline in a word is refused (csh
 * cannot quote one).
 */
import {
  CommandError,
  ICommandResult,
  ICommandRunner,
  IRunOptions,
  KEPT_SLURM_VARIABLES,
  SLURM_CLIENT_PREFIXES
} from '../slurm/runner';
import type { LoginLink } from './link';

/** A word, single-quoted for a POSIX (or csh) shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Unsets the user's Slurm client variables (SLURM_CONF kept), sets ISO times, runs "$@".
 * `set -f`: the names come from an unquoted $(...), which must not glob.
 */
const CLEAN_SLURM_ENV = [
  'set -f',
  `for v in $(env | cut -d= -f1); do case $v in ${[...KEPT_SLURM_VARIABLES].join('|')}) ;; ${SLURM_CLIENT_PREFIXES.map(p => `${p}*`).join('|')}) unset "$v" ;; esac; done`,
  'SLURM_TIME_FORMAT=standard',
  'export SLURM_TIME_FORMAT',
  'exec "$@"'
].join('; ');

/** The exec string that runs `argv` on the login node as LocalRunner runs it here. */
export function remoteCommand(argv: readonly string[]): string {
  const newline = argv.find(word => word.includes('\n'));
  if (newline !== undefined) {
    throw new CommandError(
      `cannot pass a word with a newline to the login node: ${JSON.stringify(newline)}`,
      argv
    );
  }
  return ['sh', '-c', CLEAN_SLURM_ENV, 'sh', ...argv].map(shellQuote).join(' ');
}

export class RemoteRunner implements ICommandRunner {
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
}
