import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CliError } from '../../../src/cli/client';
import { doctor, runDoctor } from '../../../src/doctor';
import { exitCode } from '../../../src/doctor/report';
import { fakeContext, IFakeContext, testbedSlurm } from './fake-context';

/** Slurm as on the testbed, and a JupyterLab that lists nothing of ours. */
function slurmAndBareJupyter(argv: readonly string[]) {
  return argv[0] === 'jupyter'
    ? { stderr: 'JupyterLab v4.6.4\n' }
    : testbedSlurm(argv);
}

describe('slurm-kernels doctor', () => {
  let ctx: IFakeContext;
  afterEach(() => ctx.cleanUp());

  it('runs every check in order, and skips the test job without --submit', async () => {
    ctx = fakeContext(slurmAndBareJupyter);
    mkdirSync(path.join(ctx.dir, 'jupyter-data', 'kernels'), {
      recursive: true
    });
    const results = await runDoctor(ctx, { submit: false });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['slurm commands', 'ok'],
      ['partitions', 'ok'],
      ['accounting', 'ok'],
      ['kernelspec dir', 'ok'],
      ['state dir', 'ok'],
      ['socket dir', 'ok'],
      ['node.js', 'ok'],
      ['jupyterlab', 'fail'],
      ['server extensions', 'fail'],
      ['presets', 'ok'],
      ['test job', 'skip'],
      ['ssh to nodes', 'skip']
    ]);
    expect(results[10].detail).toMatch(/^run with --submit/);
    expect(exitCode(results)).toBe(1);
    expect(ctx.runner.calls.some(c => c.argv[0] === 'sbatch')).toBe(false);
  });

  it('submits nothing when Slurm commands are missing, and fails with the fix', async () => {
    ctx = fakeContext(slurmAndBareJupyter, ['jupyter']);
    const results = await runDoctor(ctx, { submit: true });
    expect(results[0]).toMatchObject({
      check: 'slurm commands',
      status: 'fail'
    });
    expect(results.slice(-2)).toEqual([
      {
        check: 'test job',
        status: 'skip',
        detail: 'not submitted: the slurm commands check failed'
      },
      { check: 'ssh to nodes', status: 'skip', detail: 'no test job ran' }
    ]);
    expect(ctx.runner.calls.some(c => c.argv[0] === 'sbatch')).toBe(false);
  });

  it('refuses -p and --env without --submit', async () => {
    await expect(doctor(['-p', 'gpu'])).rejects.toThrow(CliError);
    await expect(doctor(['--env', 'site-python'])).rejects.toThrow(
      '-p and --env choose the test job: add --submit'
    );
  });
});
