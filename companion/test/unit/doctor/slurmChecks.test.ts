import {
  checkAccounting,
  checkPartitions,
  checkSlurmCommands
} from '../../../src/doctor/slurmChecks';
import { fakeContext, IFakeContext, testbedSlurm } from './fake-context';

describe('doctor: Slurm checks', () => {
  let ctx: IFakeContext;
  afterEach(() => ctx.cleanUp());

  it('finds the commands on PATH and names the version', async () => {
    ctx = fakeContext();
    expect(await checkSlurmCommands(ctx)).toEqual({
      check: 'slurm commands',
      status: 'ok',
      detail:
        'sbatch, squeue, sinfo, scontrol, scancel, sacct, sacctmgr in /usr/bin; slurm-wlm 22.05.8'
    });
    expect(ctx.runner.calls[0].argv).toEqual(['sinfo', '--version']);
  });

  it('fails without sbatch on PATH, saying how to fix it', async () => {
    ctx = fakeContext(testbedSlurm, ['sinfo', 'squeue']);
    const result = await checkSlurmCommands(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toBe(
      'not on PATH: sbatch, scontrol, scancel (PATH=/usr/bin:/bin)'
    );
    expect(result.fix).toMatch(
      /load Slurm's module .* or add .*\/usr\/bin.* to PATH/
    );
    expect(ctx.runner.calls).toEqual([]);
  });

  it('is ok without the optional accounting commands, and says what is missing', async () => {
    ctx = fakeContext(testbedSlurm, [
      'sbatch',
      'squeue',
      'sinfo',
      'scontrol',
      'scancel'
    ]);
    const result = await checkSlurmCommands(ctx);
    expect(result.status).toBe('ok');
    expect(result.detail).toMatch(
      /\(no sacct, sacctmgr: no accounting details\)$/
    );
  });

  it('falls back on scontrol --version', async () => {
    ctx = fakeContext(argv =>
      argv[0] === 'scontrol' ? { stdout: 'slurm 23.11.1\n' } : { code: 1 }
    );
    expect((await checkSlurmCommands(ctx)).detail).toMatch(
      /; slurm 23\.11\.1$/
    );
  });

  it('lists partitions with their nodes and GPU types', async () => {
    ctx = fakeContext();
    expect(await checkPartitions(ctx)).toEqual({
      check: 'partitions',
      status: 'ok',
      detail:
        'cpu (default): node1, node2; GPUs tesla ×4 (3 free); gpu: node1, node2; GPUs tesla ×4 (3 free)'
    });
  });

  it('fails when Slurm shows no partition', async () => {
    ctx = fakeContext(() => ({ stdout: '' }));
    const result = await checkPartitions(ctx);
    expect(result).toMatchObject({
      status: 'fail',
      detail: 'Slurm shows no partition to this user'
    });
    expect(result.fix).toMatch(/ask the admins/);
  });

  it('fails when slurmctld does not answer, with its message', async () => {
    ctx = fakeContext(() => ({
      code: 1,
      stderr:
        'slurm_load_partitions: Unable to contact slurm controller (connect failure)'
    }));
    const result = await checkPartitions(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/Unable to contact slurm controller/);
    expect(result.fix).toMatch(/slurmctld reachable/);
  });

  it("reports the user's accounts and QOS", async () => {
    ctx = fakeContext();
    expect(await checkAccounting(ctx)).toEqual({
      check: 'accounting',
      status: 'ok',
      detail: 'alice: accounts chemistry, physics; QOS debug, normal'
    });
  });

  it('skips where the cluster has no accounting', async () => {
    ctx = fakeContext(() => ({
      code: 1,
      stderr: 'sacctmgr: error: Slurm accounting storage is disabled'
    }));
    expect(await checkAccounting(ctx)).toMatchObject({
      status: 'skip',
      detail: expect.stringMatching(/^no associations for alice/)
    });
  });

  it('skips without sacctmgr, asking nothing', async () => {
    ctx = fakeContext(testbedSlurm, ['sbatch']);
    expect((await checkAccounting(ctx)).status).toBe('skip');
    expect(ctx.runner.calls).toEqual([]);
  });
});
