/**
 * Submitting, reading and cancelling jobs: sbatch, squeue, scancel with argv arrays.
 */
import { CommandError, ICommandRunner, runChecked } from './runner';

/**
 * What to submit. Every value is passed as its own argv element, never through a shell; the job
 * script goes to sbatch on stdin.
 */
export interface ISubmission {
  script: string;
  partition: string;
  /** sbatch --gres, e.g. "gpu:tesla:1". */
  gres?: string;
  /** sbatch --time, in a Slurm time format. */
  time?: string;
  cpus?: number;
  /** sbatch --mem, e.g. "4G". */
  memory?: string;
  account?: string;
  qos?: string;
  /** sbatch --constraint, node features (e.g. "a100&ib"). */
  constraint?: string;
  jobName: string;
  /** Stored as the job's comment so a restarted companion recognises its own jobs. */
  comment?: string;
  /** Path pattern of the job's output file (%j = job id). */
  output?: string;
  /** sbatch --signal, e.g. "B:USR1@300": a warning to the batch shell before the time limit. */
  signal?: string;
  workdir?: string;
}

/** The fields of one job as `squeue` reports it. */
export interface IJobInfo {
  id: string;
  state: string;
  reason: string;
  nodes: string;
  tresPerNode: string;
  partition: string;
  name: string;
  user: string;
  timeLimit: string;
  timeUsed: string;
  startTime: string;
  endTime: string;
  comment: string;
}

/**
 * Builds sbatch's argv (exported for tests: the argv is the contract with Slurm).
 */
export function sbatchArgv(s: ISubmission): string[] {
  const argv = [
    'sbatch',
    '--parsable',
    // The job starts from the user's login environment on the node, not from the environment of
    // whatever started the companion (the lab's PATH and PYTHONPATH, JUPYTER_*, a hub's API token).
    '--export=NONE',
    `--partition=${s.partition}`,
    `--job-name=${s.jobName}`
  ];
  const optional: Array<[string, string | number | undefined]> = [
    ['--gres', s.gres],
    ['--time', s.time],
    ['--cpus-per-task', s.cpus],
    ['--mem', s.memory],
    ['--account', s.account],
    ['--qos', s.qos],
    ['--constraint', s.constraint],
    ['--comment', s.comment],
    ['--output', s.output],
    ['--signal', s.signal],
    ['--chdir', s.workdir]
  ];
  for (const [flag, value] of optional) {
    if (value !== undefined && value !== '') {
      argv.push(`${flag}=${value}`);
    }
  }
  return argv;
}

/**
 * Submits a batch job and resolves its id.
 *
 * #### Notes
 * Rejects with a CommandError carrying sbatch's own message (e.g. "Requested node configuration is
 * not available") when Slurm refuses the job.
 */
export async function submitJob(
  runner: ICommandRunner,
  submission: ISubmission
): Promise<string> {
  const argv = sbatchArgv(submission);
  const out = await runChecked(runner, argv, { input: submission.script });
  // --parsable prints "jobid" or "jobid;cluster".
  const id = out.trim().split(';')[0];
  if (!/^\d+$/.test(id)) {
    throw new CommandError(`sbatch printed no job id: ${out.trim()}`, argv);
  }
  return id;
}

const SQUEUE_FIELDS = [
  '%i',
  '%T',
  '%r',
  '%N',
  '%b',
  '%P',
  '%j',
  '%u',
  '%l',
  '%M',
  '%S',
  '%e',
  '%k'
];
const FIELD_SEPARATOR = '\u001f'; // unit separator: cannot appear in job names or comments typed by users

/**
 * Lists jobs, finished ones included for as long as Slurm keeps them (MinJobAge).
 *
 * One call for any number of jobs; `user` restricts it to one user's jobs.
 */
export async function listJobs(
  runner: ICommandRunner,
  filter: { user?: string; jobIds?: string[] } = {}
): Promise<IJobInfo[]> {
  const argv = [
    'squeue',
    '--noheader',
    // Jobs in hidden partitions too: without --all they vanish from the listing.
    '--all',
    '--states=all',
    `--format=${SQUEUE_FIELDS.join(FIELD_SEPARATOR)}`
  ];
  if (filter.user) {
    argv.push(`--user=${filter.user}`);
  }
  if (filter.jobIds && filter.jobIds.length > 0) {
    argv.push(`--jobs=${filter.jobIds.join(',')}`);
  }
  const result = await runner.run(argv);
  if (result.code !== 0) {
    // squeue -j on a job Slurm has already forgotten: "Invalid job id specified", not a failure.
    if (/Invalid job id/i.test(result.stderr)) {
      return [];
    }
    throw new CommandError(
      `squeue failed: ${result.stderr.trim()}`,
      argv,
      result
    );
  }
  return parseSqueue(result.stdout);
}

export function parseSqueue(text: string): IJobInfo[] {
  return text
    .split('\n')
    .filter(line => line.trim() !== '')
    .map(line => {
      const f = line.split(FIELD_SEPARATOR).map(v => v.trim());
      return {
        id: f[0],
        state: f[1],
        reason: f[2],
        nodes: f[3],
        tresPerNode: f[4],
        partition: f[5],
        name: f[6],
        user: f[7],
        timeLimit: f[8],
        timeUsed: f[9],
        startTime: f[10],
        endTime: f[11],
        comment: f[12] === '(null)' ? '' : f[12]
      };
    });
}

/**
 * Cancels a job. Cancelling a job that already ended is not an error.
 */
export async function cancelJob(
  runner: ICommandRunner,
  jobId: string
): Promise<void> {
  if (!/^\d+(_\d+)?$/.test(jobId)) {
    throw new CommandError(`not a Slurm job id: ${JSON.stringify(jobId)}`, [
      'scancel',
      jobId
    ]);
  }
  const argv = ['scancel', jobId];
  const result = await runner.run(argv);
  if (
    result.code !== 0 &&
    !/already completing or completed|Invalid job id/i.test(result.stderr)
  ) {
    throw new CommandError(
      `scancel failed: ${result.stderr.trim()}`,
      argv,
      result
    );
  }
}

/** How a job ended, in Slurm's words. */
export interface IFinalState {
  state: string;
  exitCode: string | null;
  reason: string | null;
}

/**
 * What Slurm says of one job that squeue did not list as expected: a state (live or final), that
 * it is gone (neither slurmctld nor accounting knows it), or that Slurm did not answer.
 */
export type JobLookup =
  | ({ kind: 'known' } & IFinalState)
  | { kind: 'gone' }
  | { kind: 'unreachable'; message: string };

/** Messages of Slurm's clients that mean "slurmctld did not answer", not "no such job". */
const UNREACHABLE =
  /Socket timed out|Unable to contact|Connection refused|Communication|Zero Bytes were transmitted|timed out|Connection reset|Network is unreachable|No route to host|Transport endpoint/i;

/** Whether a failed Slurm command means the controller did not answer (worth waiting for). */
export function isSlurmUnreachable(err: unknown): boolean {
  if (!(err instanceof CommandError)) {
    return false;
  }
  const said = `${err.message}\n${err.result?.stderr ?? ''}`;
  return UNREACHABLE.test(said) || err.result?.code === null;
}

/**
 * Slurm's word on a job: scontrol while slurmctld still remembers it (MinJobAge, 5 minutes by
 * default), then the accounting database (sacct) where the cluster has one.
 *
 * #### Notes
 * A state scontrol gives may be live (PENDING, RUNNING, REQUEUE_HOLD…): squeue missing a job does
 * not mean it ended. "gone" needs slurmctld itself to say the id is invalid; any other failure is
 * "unreachable", so that a controller restart is never taken for the end of every job.
 */
export async function lookUpJob(
  runner: ICommandRunner,
  jobId: string
): Promise<JobLookup> {
  const shown = await runner.run(scontrolJobArgv(jobId));
  if (shown.code === 0) {
    const state = parseScontrolJob(shown.stdout);
    if (state) {
      return { kind: 'known', ...state };
    }
  }
  if (!/Invalid job id/i.test(shown.stderr)) {
    return {
      kind: 'unreachable',
      message: shown.stderr.trim() || `scontrol exited ${shown.code}`
    };
  }
  const accounted = await runner.run(sacctArgv(jobId));
  const fromAccounting =
    accounted.code === 0 ? parseSacct(accounted.stdout, jobId) : null;
  // The database lags behind slurmctld: a job it still calls RUNNING has not said its last word.
  return fromAccounting && ENDED_STATES.has(fromAccounting.state)
    ? { kind: 'known', ...fromAccounting }
    : { kind: 'gone' };
}

/** States a job never leaves: it will not run (again). */
export const ENDED_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED'
]);

/**
 * Whether a failed sbatch surely submitted nothing: it could not run, or Slurm answered and refused.
 * Anything else (a timeout, our own kill, "Socket timed out" while sbatch retried, output a site's
 * wrapper mangled) may hide a job that exists: it is looked for by its tag before submitting again.
 */
export function surelyNotSubmitted(err: unknown): boolean {
  if (!(err instanceof CommandError)) {
    return false;
  }
  if (/^cannot run /.test(err.message) && !err.result?.stdout) {
    return true;
  }
  const result = err.result;
  return (
    result !== undefined &&
    result.code !== 0 &&
    result.code !== null &&
    /sbatch: error:/.test(result.stderr) &&
    !isSlurmUnreachable(err)
  );
}

/** Jobs of `user` whose comment is `comment` (ours carry the allocation's tag), finished or not. */
export async function findJobsByComment(
  runner: ICommandRunner,
  user: string,
  comment: string
): Promise<IJobInfo[]> {
  const jobs = await listJobs(runner, { user });
  return jobs.filter(j => j.comment === comment);
}

function scontrolJobArgv(jobId: string): string[] {
  return ['scontrol', '--oneliner', 'show', 'job', jobId];
}

function parseScontrolJob(text: string): IFinalState | null {
  const state = /\bJobState=(\S+)/.exec(text)?.[1];
  if (!state) {
    return null;
  }
  return {
    state,
    exitCode: /\bExitCode=(\S+)/.exec(text)?.[1] ?? null,
    reason: /\bReason=(\S+)/.exec(text)?.[1] ?? null
  };
}

export function sacctArgv(jobId: string): string[] {
  return [
    'sacct',
    '--noheader',
    '--parsable2',
    '--allocations',
    `--jobs=${jobId}`,
    '--format=JobID,State,ExitCode,Reason'
  ];
}

/** The job's line of `sacct --parsable2` ("1|CANCELLED by 1001|0:0|None"); the latest if ids repeat. */
export function parseSacct(text: string, jobId: string): IFinalState | null {
  let found: IFinalState | null = null;
  for (const line of text.split('\n')) {
    const [id, state, exitCode, reason] = line.trim().split('|');
    if (id === jobId && state) {
      found = {
        state: state.split(' ')[0], // "CANCELLED by 1001"
        exitCode: exitCode || null,
        reason: reason && reason !== 'None' ? reason : null
      };
    }
  }
  return found;
}
