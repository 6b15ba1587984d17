import {
  cancelJob,
  listJobs,
  readFinalState,
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

describe('readFinalState', () => {
  it('takes state, exit code and reason from scontrol while slurmctld remembers the job', async () => {
    const runner = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? { stdout: fixture('scontrol-job-failed.txt') }
        : { code: 1 }
    );
    expect(await readFinalState(runner, '2')).toEqual({
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
    expect(await readFinalState(runner, '1')).toEqual({
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

  it('takes no state from sacct that is not an end: the database lags behind slurmctld', async () => {
    const runner = new FakeRunner(argv =>
      argv[0] === 'scontrol'
        ? { code: 1, stderr: 'slurm_load_jobs error: Socket timed out\n' }
        : { stdout: '3|RUNNING|0:0|None\n' }
    );
    expect(await readFinalState(runner, '3')).toBeNull();
  });

  it('knows nothing where neither knows the job (no accounting)', async () => {
    const runner = new FakeRunner(() => ({ code: 1 }));
    expect(await readFinalState(runner, '7')).toBeNull();
  });
});
