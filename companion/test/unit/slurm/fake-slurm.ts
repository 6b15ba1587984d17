/**
 * A Slurm whose controller, sbatch and jobs a test drives, behind a FakeRunner: squeue, scontrol,
 * sbatch and scancel answer from its job table, or fail as a real cluster's do.
 */
import type { ICommandResult } from '../../../src/slurm/runner';
import { fixture } from '../fixtures';
import { FakeRunner } from './fake-runner';

const SEP = '\u001f';
const UNREACHABLE =
  'error: Unable to contact slurm controller (connect failure)\n';

export interface IFakeJob {
  id: string;
  state: string;
  reason: string;
  node: string;
  start: string;
  /** Slurm's end time (the time limit while it runs); N/A when unset. */
  end?: string;
  comment: string;
}

/** A Slurm whose controller, sbatch and jobs the test drives. */
export class FakeSlurm {
  jobs = new Map<string, IFakeJob>();
  /** slurmctld does not answer: every client says so. */
  down = false;
  /** What sbatch does: submit and say so, submit and lose the answer, or lose it with no job. */
  sbatch: 'ok' | 'submit-then-time-out' | 'time-out' = 'ok';
  /** scancel calls that fail with "Socket timed out" before one works. */
  failingCancels = 0;
  /** Jobs squeue leaves out although scontrol knows them. */
  unlisted = new Set<string>();
  private _next = 100;

  readonly runner = new FakeRunner(argv => this._answer(argv));

  calls(command: string): string[][] {
    return this.runner.calls
      .filter(c => c.argv[0] === command)
      .map(c => c.argv);
  }

  private _answer(argv: readonly string[]): Partial<ICommandResult> {
    const [command] = argv;
    if (this.down && command !== 'sacctmgr') {
      return { code: 1, stderr: `${command}: ${UNREACHABLE}` };
    }
    if (command === 'sinfo') {
      return { stdout: fixture('sinfo-nodes.txt') };
    }
    if (command === 'scontrol' && argv.includes('partition')) {
      return { stdout: fixture('scontrol-partitions.txt') };
    }
    switch (command) {
      case 'sbatch':
        return this._sbatch(argv);
      case 'squeue':
        return this._squeue(argv);
      case 'scontrol':
        return this._scontrol(argv[argv.length - 1]);
      case 'scancel':
        return this._scancel(argv[1]);
      case 'sacct':
        return { stdout: '' };
      default:
        return { stdout: '' };
    }
  }

  private _sbatch(argv: readonly string[]): Partial<ICommandResult> {
    const comment = argv.find(a => a.startsWith('--comment='))?.slice(10) ?? '';
    if (this.sbatch !== 'time-out') {
      const id = String(this._next++);
      this.jobs.set(id, {
        id,
        state: 'PENDING',
        reason: 'Priority',
        node: '',
        start: 'N/A',
        comment
      });
      if (this.sbatch === 'ok') {
        return { stdout: `${id}\n` };
      }
    }
    return {
      code: 1,
      stderr:
        'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n'
    };
  }

  private _squeue(argv: readonly string[]): Partial<ICommandResult> {
    const ids = argv
      .find(a => a.startsWith('--jobs='))
      ?.slice(7)
      .split(',');
    const rows = [...this.jobs.values()]
      .filter(j => (!ids || ids.includes(j.id)) && !this.unlisted.has(j.id))
      .map(j =>
        [
          j.id,
          j.state,
          j.reason,
          j.node,
          '',
          'gpu',
          'x',
          'alice',
          '30:00',
          '0:00',
          j.start,
          j.end ?? 'N/A',
          j.comment
        ].join(SEP)
      );
    return { stdout: rows.join('\n') };
  }

  private _scontrol(id: string): Partial<ICommandResult> {
    const job = this.jobs.get(id);
    return job
      ? {
          stdout: `JobId=${id} JobState=${job.state} Reason=${job.reason} ExitCode=0:0\n`
        }
      : {
          code: 1,
          stderr: 'slurm_load_jobs error: Invalid job id specified\n'
        };
  }

  private _scancel(id: string): Partial<ICommandResult> {
    if (this.failingCancels > 0) {
      this.failingCancels -= 1;
      return {
        code: 1,
        stderr:
          'scancel: error: Kill job error on job id: Socket timed out on send/recv operation\n'
      };
    }
    const job = this.jobs.get(id);
    if (job) {
      job.state = 'CANCELLED';
    }
    return {};
  }
}
