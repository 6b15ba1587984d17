/**
 * The Slurm module against the real testbed: a GPU job is submitted, runs on a compute node with
 * CUDA_VISIBLE_DEVICES set, and is cancelled, leaving nothing behind.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cancelJob,
  listJobs,
  LocalRunner,
  parseSacct,
  lookUpJob,
  sacctArgv,
  submitJob
} from '../../src/slurm';
import { requireTestUser, waitFor } from './testbed';

const runner = new LocalRunner();
const user = requireTestUser();
const submitted: string[] = [];
// On the shared home, so the login side can read what the node wrote.
const workdir = mkdtempSync(path.join(os.homedir(), '.sk-itest-'));

afterAll(async () => {
  for (const id of submitted) {
    await cancelJob(runner, id);
  }
  rmSync(workdir, { recursive: true, force: true });
});

const activeStates = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED'
]);

describe('a GPU job on the testbed', () => {
  it('runs on a compute node with CUDA_VISIBLE_DEVICES set, then cancels cleanly', async () => {
    const id = await submitJob(runner, {
      script: [
        '#!/bin/bash',
        'echo "host=$(hostname) job=$SLURM_JOB_ID cvd=${CUDA_VISIBLE_DEVICES-unset}"',
        'exec sleep 300',
        ''
      ].join('\n'),
      partition: 'gpu',
      gres: 'gpu:1',
      time: '5',
      jobName: 'sk-itest-gpu',
      comment: 'slurm-kernels-test',
      output: path.join(workdir, 'job-%j.out')
    });
    submitted.push(id);

    const running = await waitFor('RUNNING', async () => {
      const [job] = await listJobs(runner, { jobIds: [id] });
      return job?.state === 'RUNNING' && job;
    });
    expect(running.user).toBe(user);
    expect(running.partition).toBe('gpu');
    expect(running.nodes).toMatch(/^node\d+$/);
    expect(running.tresPerNode).toMatch(/gpu:1/);
    expect(running.comment).toBe('slurm-kernels-test');

    const outFile = path.join(workdir, `job-${id}.out`);
    const line = await waitFor('the job to print its environment', async () => {
      try {
        return readFileSync(outFile, 'utf8').trim();
      } catch {
        return undefined;
      }
    });
    // Slurm sets the index of the GPU it gave the job (a testbed node has GPUs 0 and 1).
    expect(line).toMatch(
      new RegExp(`^host=${running.nodes} job=${id} cvd=[01]$`)
    );

    await cancelJob(runner, id);
    await waitFor('the job to leave the queue', async () => {
      const jobs = await listJobs(runner, { jobIds: [id] });
      return jobs.every(j => !activeStates.has(j.state));
    });
    const mine = await listJobs(runner, { user });
    expect(mine.filter(j => activeStates.has(j.state))).toEqual([]);
  });

  it('is refused by Slurm when no node has that many GPUs, and nothing is queued', async () => {
    await expect(
      submitJob(runner, {
        script: '#!/bin/bash\ntrue\n',
        partition: 'gpu',
        gres: 'gpu:3',
        jobName: 'sk-itest-3gpu'
      })
    ).rejects.toThrow(/Requested node configuration is not available/);
    const jobs = await listJobs(runner, { user });
    // 22.05 keeps a record of the refused job as FAILED (BadConstraints); nothing may wait or run.
    expect(
      jobs.filter(j => j.name === 'sk-itest-3gpu' && activeStates.has(j.state))
    ).toEqual([]);
  });
});

describe('a job that ends on its own, with accounting', () => {
  it('runs under the account and QOS it asked for, and its end is known to scontrol and to sacct', async () => {
    const id = await submitJob(runner, {
      script: '#!/bin/bash\nexit 3\n',
      partition: 'cpu',
      time: '5',
      account: 'chemistry',
      qos: 'debug',
      jobName: 'sk-itest-exit3',
      comment: 'slurm-kernels-test',
      output: '/dev/null'
    });
    submitted.push(id);
    await waitFor('the job to end', async () => {
      const jobs = await listJobs(runner, { jobIds: [id] });
      return jobs.every(j => !activeStates.has(j.state));
    });
    // slurmctld still remembers it (MinJobAge): scontrol answers first.
    expect(await lookUpJob(runner, id)).toEqual({
      kind: 'known',
      state: 'FAILED',
      exitCode: '3:0',
      reason: 'NonZeroExitCode'
    });
    // Once slurmctld forgets it, the accounting database answers (its record fills in within seconds).
    await waitFor('the accounting record', async () => {
      const { stdout } = await runner.run([
        'sacct',
        '--noheader',
        '--parsable2',
        '--allocations',
        `--jobs=${id}`,
        '--format=Account,QOS,State'
      ]);
      return stdout.trim() === 'chemistry|debug|FAILED';
    });
    const accounted = await runner.run(sacctArgv(id));
    expect(parseSacct(accounted.stdout, id)).toEqual({
      state: 'FAILED',
      exitCode: '3:0',
      reason: null
    });
  });
});
