import { CommandError } from '../../../src/slurm/runner';
import {
  cancelJob,
  listJobs,
  isSlurmUnreachable,
  lookUpJob,
  surelyNotSubmitted,
  sbatchArgv,
  submitJob
} from '../../../src/slurm/jobs';
import { FakeRunner } from './fake-runner';
import { fixture } from '../fixtures';

describe('submitJob', () => {
  it('passes every value as its own argv element and the script on stdin', async () => {
    const runner = new FakeRunner(() => ({ stdout: '42\n' }));
    const id = await submitJob(runner, {
      script: '#!/bin/bash\nhostname\n',
      partition: 'gpu',
      gres: 'gpu:tesla:1',
      time: '1:00:00',
      jobName: 'a name; with $(metachars)',
      comment: 'slurm-kernels'
    });
    expect(id).toBe('42');
    expect(runner.calls[0]).toEqual({
      argv: [
        'sbatch',
        '--parsable',
        '--export=NONE',
        '--partition=gpu',
        '--job-name=a name; with $(metachars)',
        '--gres=gpu:tesla:1',
        '--time=1:00:00',
        '--comment=slurm-kernels'
      ],
      input: '#!/bin/bash\nhostname\n'
    });
  });

  it('reads "id;cluster" from --parsable on federated clusters', async () => {
    const runner = new FakeRunner(() => ({ stdout: '1234;testbed\n' }));
    await expect(
      submitJob(runner, { script: '', partition: 'gpu', jobName: 'x' })
    ).resolves.toBe('1234');
  });

  it("rejects with sbatch's own message when Slurm refuses the job", async () => {
    const runner = new FakeRunner(() => ({
      code: 1,
      stderr:
        'sbatch: error: Batch job submission failed: Requested node configuration is not available\n'
    }));
    await expect(
      submitJob(runner, { script: '', partition: 'gpu', jobName: 'x' })
    ).rejects.toThrow(/Requested node configuration is not available/);
  });

  it('leaves out options that are not set', () => {
    expect(
      sbatchArgv({
        script: '',
        partition: 'cpu',
        jobName: 'j',
        cpus: 4,
        memory: ''
      })
    ).toEqual([
      'sbatch',
      '--parsable',
      '--export=NONE',
      '--partition=cpu',
      '--job-name=j',
      '--cpus-per-task=4'
    ]);
  });
});

describe('listJobs', () => {
  it('parses squeue rows and treats a forgotten job id as no jobs', async () => {
    const row = [
      '7',
      'PENDING',
      'Resources',
      '',
      'gres:gpu:1',
      'gpu',
      'kern',
      'alice',
      '1:00:00',
      '0:00',
      'N/A',
      'N/A',
      'slurm-kernels'
    ].join('\u001f');
    const runner = new FakeRunner(argv =>
      argv.some(a => a === '--jobs=99')
        ? { code: 1, stderr: 'slurm_load_jobs error: Invalid job id specified' }
        : { stdout: `${row}\n` }
    );
    const jobs = await listJobs(runner, { user: 'alice' });
    expect(jobs).toEqual([
      expect.objectContaining({
        id: '7',
        state: 'PENDING',
        reason: 'Resources',
        comment: 'slurm-kernels'
      })
    ]);
    expect(runner.calls[0].argv).toContain('--user=alice');
    await expect(listJobs(runner, { jobIds: ['99'] })).resolves.toEqual([]);
  });
});

describe('cancelJob', () => {
  it('refuses anything but a job id before running scancel', async () => {
    const runner = new FakeRunner(() => ({}));
    await expect(cancelJob(runner, '1; rm -rf ~')).rejects.toThrow(
      /not a Slurm job id/
    );
    expect(runner.calls).toHaveLength(0);
  });

  it('accepts a job that already ended', async () => {
    const runner = new FakeRunner(() => ({
      code: 1,
      stderr:
        'scancel: error: Kill job error on job id 5: Job/step already completing or completed'
    }));
    await expect(cancelJob(runner, '5')).resolves.toBeUndefined();
  });
});

describe('lookUpJob', () => {
  it('takes state, exit code and reason from scontrol while slurmctld remembers the job', async () => {
    const runner = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? { stdout: fixture('scontrol-job-failed.txt') }
        : { code: 1 }
    );
    expect(await lookUpJob(runner, '2')).toEqual({
      kind: 'known',
      state: 'FAILED',
      exitCode: '3:0',
      reason: 'NonZeroExitCode'
    });
    expect(runner.calls.map(c => c.argv[0])).toEqual(['scontrol']);
  });

  it('asks sacct once slurmctld has forgotten the job', async () => {
    const runner = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? {
            code: 1,
            stderr: 'slurm_load_jobs error: Invalid job id specified\n'
          }
        : { stdout: fixture('sacct-ended.txt') }
    );
    expect(await lookUpJob(runner, '1')).toEqual({
      kind: 'known',
      state: 'CANCELLED',
      exitCode: '0:0',
      reason: null
    });
    expect(runner.calls[1].argv).toEqual([
      'sacct',
      '--noheader',
      '--parsable2',
      '--allocations',
      '--jobs=1',
      '--format=JobID,State,ExitCode,Reason'
    ]);
  });

  it('calls a job gone when slurmctld has forgotten it and accounting has no end (it lags, or there is none)', async () => {
    const lagging = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? {
            code: 1,
            stderr: 'slurm_load_jobs error: Invalid job id specified\n'
          }
        : { stdout: '3|RUNNING|0:0|None\n' }
    );
    expect(await lookUpJob(lagging, '3')).toEqual({ kind: 'gone' });
    const none = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? {
            code: 1,
            stderr: 'slurm_load_jobs error: Invalid job id specified\n'
          }
        : {
            code: 1,
            stderr: 'sacct: error: Slurm accounting storage is disabled\n'
          }
    );
    expect(await lookUpJob(none, '7')).toEqual({ kind: 'gone' });
  });

  it('never calls a job gone when slurmctld does not answer', async () => {
    const runner = new FakeRunner(() => ({
      code: 1,
      stderr: 'slurm_load_jobs error: Socket timed out on send/recv operation\n'
    }));
    expect(await lookUpJob(runner, '3')).toEqual({
      kind: 'unreachable',
      message: 'slurm_load_jobs error: Socket timed out on send/recv operation'
    });
    expect(runner.calls.map(c => c.argv[0])).toEqual(['scontrol']);
  });

  it('reports a live state scontrol gives for a job squeue did not list', async () => {
    const runner = new FakeRunner(() => ({
      stdout:
        'JobId=9 JobName=x JobState=REQUEUE_HOLD Reason=JobHeldUser ExitCode=0:0\n'
    }));
    expect(await lookUpJob(runner, '9')).toEqual({
      kind: 'known',
      state: 'REQUEUE_HOLD',
      exitCode: '0:0',
      reason: 'JobHeldUser'
    });
  });
});

describe('what a failed sbatch means', () => {
  const failed = (stderr: string, code: number | null = 1, stdout = '') =>
    new CommandError('sbatch failed', ['sbatch'], {
      code,
      signal: code === null ? 'SIGTERM' : null,
      stdout,
      stderr
    });

  it.each([
    [
      'Slurm refused it',
      failed(
        'sbatch: error: Batch job submission failed: Requested node configuration is not available\n'
      ),
      true
    ],
    [
      'sbatch could not run',
      new CommandError('cannot run sbatch: spawn sbatch ENOENT', ['sbatch']),
      true
    ],
    [
      'the controller timed out',
      failed(
        'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n'
      ),
      false
    ],
    [
      'the controller was down',
      failed(
        'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n'
      ),
      false
    ],
    ['our own kill while sbatch retried', failed('', null), false],
    [
      'a wrapper printed more than the id',
      new CommandError('sbatch printed no job id: Submitted to gpu\n4242', [
        'sbatch'
      ]),
      false
    ]
  ])('%s: submitted nothing = %s', (_what, err, nothing) => {
    expect(surelyNotSubmitted(err)).toBe(nothing);
  });

  it('tells Slurm not answering from Slurm saying no', () => {
    expect(
      isSlurmUnreachable(
        failed(
          'squeue: error: Unable to contact slurm controller (connect failure)\n'
        )
      )
    ).toBe(true);
    expect(
      isSlurmUnreachable(failed('squeue: error: Invalid user: nobody\n'))
    ).toBe(false);
  });
});
