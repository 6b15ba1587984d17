import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runTestJobs } from '../../../src/doctor/testJobs';
import type { ICommandResult } from '../../../src/slurm/runner';
import { TunnelError } from '../../../src/tunnel/ssh';
import { fakeContext, IFakeContext, testbedSlurm } from './fake-context';

const P = 'slurm-kernels-doctor:';
const GOOD_PROBE = [
  `${P} host=node1`,
  `${P} command.jupyter=/opt/env/bin/jupyter`,
  `${P} command.jupyter-kernelgateway=/opt/env/bin/jupyter-kernelgateway`,
  `${P} command.jupyter-server=/opt/env/bin/jupyter-server`,
  `${P} python=/opt/env/bin/python3 3.11.2`,
  `${P} import.kernel_gateway=3.0.1`,
  `${P} import.ipykernel=7.4.0`,
  `${P} import.jupyter_server=2.21.1`,
  `${P} exit=0`,
  ''
].join('\n');

/**
 * Slurm for the test jobs: sbatch gives ids from 100 and, where `probe` is set, writes it to the job's
 * --output as the job would; squeue shows each job in `state` until scancel.
 */
class FakeSlurm {
  readonly cancelled: string[] = [];
  readonly scripts: string[] = [];
  readonly sbatchArgv: string[][] = [];

  constructor(
    private readonly _job: {
      state: string;
      reason?: string;
      probe?: string;
      refuse?: string;
    }
  ) {}

  answer = (
    argv: readonly string[],
    input?: string
  ): Partial<ICommandResult> => {
    switch (argv[0]) {
      case 'sbatch':
        return this._submit(argv, input ?? '');
      case 'squeue':
        return { stdout: this._squeue(argv) };
      case 'scancel':
        this.cancelled.push(argv[1]);
        return {};
      default:
        return testbedSlurm(argv);
    }
  };

  private _submit(
    argv: readonly string[],
    script: string
  ): Partial<ICommandResult> {
    if (this._job.refuse) {
      return { code: 1, stderr: this._job.refuse };
    }
    this.sbatchArgv.push([...argv]);
    this.scripts.push(script);
    const output = argv
      .find(a => a.startsWith('--output='))
      ?.slice('--output='.length);
    if (this._job.probe !== undefined && output) {
      writeFileSync(output, this._job.probe);
    }
    return { stdout: `${99 + this.sbatchArgv.length}\n` };
  }

  private _squeue(argv: readonly string[]): string {
    const ids = (argv.find(a => a.startsWith('--jobs=')) ?? '')
      .slice('--jobs='.length)
      .split(',');
    return ids
      .map(id => {
        const state = this.cancelled.includes(id)
          ? 'CANCELLED'
          : this._job.state;
        const node = state === 'RUNNING' ? 'node1' : '';
        const reason = this._job.reason ?? 'None';
        return [
          id,
          state,
          reason,
          node,
          'N/A',
          'gpu',
          'slurm-kernels-doctor',
          'alice',
          '5:00',
          '0:01',
          'N/A',
          'N/A',
          'slurm-kernels'
        ].join('\u001f');
      })
      .join('\n');
  }
}

function withSlurm(slurm: FakeSlurm): IFakeContext {
  // The runner records each command's stdin before it asks for the answer: sbatch reads the script.
  const ctx: IFakeContext = fakeContext(argv =>
    slurm.answer(argv, ctx.runner.calls.at(-1)?.input)
  );
  writeFileSync(
    ctx.presetFiles[0],
    JSON.stringify({
      presets: {
        'site-python': { venv: '/opt/env' },
        cuda: { modules: ['cuda/12.4'] }
      }
    })
  );
  return ctx;
}

describe('doctor --submit', () => {
  let ctx: IFakeContext;
  afterEach(() => ctx.cleanUp());

  it('submits a tagged 5-minute job per preset, judges its output, checks ssh, and cancels it', async () => {
    const slurm = new FakeSlurm({ state: 'RUNNING', probe: GOOD_PROBE });
    ctx = withSlurm(slurm);
    const tunnels: string[] = [];
    const results = await runTestJobs(ctx, {
      partition: 'gpu',
      preset: 'site-python',
      pollMs: 5,
      tunnelProbe: async node => {
        // ssh is checked while the job still runs
        expect(slurm.cancelled).toEqual([]);
        tunnels.push(node);
      }
    });
    expect(results).toEqual([
      {
        check: 'test job site-python',
        status: 'ok',
        detail:
          'Kernel Gateway 3.0.1 and ipykernel 7.4.0 importable in preset site-python on node1'
      },
      {
        check: 'ssh node1',
        status: 'ok',
        detail:
          'host key of node1 known, login as alice with a key, port forwarding works'
      }
    ]);
    expect(tunnels).toEqual(['node1']);
    expect(slurm.sbatchArgv[0]).toEqual(
      expect.arrayContaining([
        'sbatch',
        '--export=NONE',
        '--partition=gpu',
        '--job-name=slurm-kernels-doctor',
        '--time=5',
        '--comment=slurm-kernels',
        `--chdir=${ctx.dir}`
      ])
    );
    expect(slurm.scripts[0]).toContain(
      "source '/opt/env/bin/activate' || exit 22"
    );
    expect(slurm.cancelled).toEqual(['100']);
    // its log went with it
    expect(
      readdirSync(path.join(ctx.dir, 'state', 'slurm-kernels', 'doctor'))
    ).toEqual([]);
    expect(ctx.progressLines).toEqual(
      expect.arrayContaining([
        'submitted test job 100 for preset site-python to partition gpu',
        'job 100 (site-python) running on node1',
        'checking how to reach node1',
        'cancelling test job 100'
      ])
    );
  });

  it("tests every preset on the cluster's default partition when none is named", async () => {
    const slurm = new FakeSlurm({ state: 'RUNNING', probe: GOOD_PROBE });
    ctx = withSlurm(slurm);
    const results = await runTestJobs(ctx, {
      pollMs: 5,
      tunnelProbe: async () => undefined
    });
    expect(results.map(r => r.check)).toEqual([
      'test job site-python',
      'test job cuda',
      'ssh node1'
    ]);
    expect(
      slurm.sbatchArgv.map(a => a.find(x => x.startsWith('--partition=')))
    ).toEqual(['--partition=cpu', '--partition=cpu']);
    expect(slurm.scripts[1]).toContain("module load 'cuda/12.4' || exit 20");
    expect(slurm.cancelled).toEqual(['100', '101']);
  });

  it('gives up on a job that stays pending, says why, and cancels it', async () => {
    const slurm = new FakeSlurm({ state: 'PENDING', reason: 'Resources' });
    ctx = withSlurm(slurm);
    const tunnels: string[] = [];
    const results = await runTestJobs(ctx, {
      preset: 'site-python',
      waitMs: 30,
      pollMs: 5,
      tunnelProbe: async node => {
        tunnels.push(node);
      }
    });
    expect(results).toEqual([
      {
        check: 'test job site-python',
        status: 'fail',
        detail:
          'job 100 still PENDING (Resources) when the doctor stopped waiting; cancelled',
        fix: 'try another partition with -p, or later (`squeue -j 100` said why it waited)'
      }
    ]);
    expect(tunnels).toEqual([]);
    expect(slurm.cancelled).toEqual(['100']);
    expect(ctx.progressLines).toContain(
      'job 100 (site-python) pending: Waiting for resources: the GPUs or nodes asked for are in use by other jobs.'
    );
  });

  it('fails a job that ended without finishing its probe', async () => {
    const slurm = new FakeSlurm({
      state: 'FAILED',
      probe: 'slurmstepd: error: execve(): bash: No such file\n'
    });
    ctx = withSlurm(slurm);
    const [result] = await runTestJobs(ctx, {
      preset: 'site-python',
      pollMs: 5
    });
    expect(result).toMatchObject({
      status: 'fail',
      detail:
        'job 100 ended FAILED: slurmstepd: error: execve(): bash: No such file; cancelled',
      fix: expect.stringMatching(/sacct -j 100/)
    });
  });

  it('reports a job Slurm refused, and cancels nothing', async () => {
    const slurm = new FakeSlurm({
      state: 'RUNNING',
      refuse:
        'sbatch: error: Invalid account or account/partition combination specified'
    });
    ctx = withSlurm(slurm);
    const [result] = await runTestJobs(ctx, {
      preset: 'site-python',
      partition: 'gpu',
      pollMs: 5
    });
    expect(result).toMatchObject({
      check: 'test job site-python',
      status: 'fail',
      detail: expect.stringMatching(
        /^Slurm refused the test job on partition gpu: .*Invalid account/
      ),
      fix: expect.stringMatching(/sacctmgr show associations user=alice/)
    });
    expect(slurm.cancelled).toEqual([]);
  });

  it('fails the ssh check of the node with an unknown host key, and still cancels the job', async () => {
    const slurm = new FakeSlurm({ state: 'RUNNING', probe: GOOD_PROBE });
    ctx = withSlurm(slurm);
    const results = await runTestJobs(ctx, {
      preset: 'site-python',
      pollMs: 5,
      tunnelProbe: async () => {
        throw new TunnelError(
          'node1: node1 is not in known_hosts; connect once with ssh to verify and add its key',
          'host-key'
        );
      }
    });
    expect(results[1]).toMatchObject({ check: 'ssh node1', status: 'fail' });
    expect(slurm.cancelled).toEqual(['100']);
  });

  it("tests a preset of the site's configuration too", async () => {
    const slurm = new FakeSlurm({ state: 'RUNNING', probe: GOOD_PROBE });
    ctx = withSlurm(slurm);
    writeFileSync(
      ctx.siteConfigFile,
      JSON.stringify({ presets: { 'gpu-python': { venv: '/sw/gpu-python' } } })
    );
    const [result] = await runTestJobs(ctx, {
      preset: 'gpu-python',
      pollMs: 5,
      tunnelProbe: async () => undefined
    });
    expect(result).toMatchObject({
      check: 'test job gpu-python',
      status: 'ok'
    });
    expect(slurm.scripts[0]).toContain("source '/sw/gpu-python/bin/activate'");
  });

  it('names the known presets when --env names none of them', async () => {
    ctx = withSlurm(new FakeSlurm({ state: 'RUNNING' }));
    expect(await runTestJobs(ctx, { preset: 'nope' })).toEqual([
      {
        check: 'test job',
        status: 'fail',
        detail: 'no environment preset "nope" (known: site-python, cuda)',
        fix: 'name a preset with --env and a partition with -p'
      }
    ]);
  });

  it('cancels its jobs on Ctrl-C and exits 130', async () => {
    const slurm = new FakeSlurm({ state: 'PENDING', reason: 'Priority' });
    ctx = withSlurm(slurm);
    const exit = jest
      .spyOn(process, 'exit')
      .mockImplementation((() => undefined) as never);
    try {
      const running = runTestJobs(ctx, {
        preset: 'site-python',
        waitMs: 2_000,
        pollMs: 5
      });
      while (slurm.sbatchArgv.length === 0) {
        await new Promise(resolve => setTimeout(resolve, 5));
      }
      process.emit('SIGINT', 'SIGINT');
      while (exit.mock.calls.length === 0) {
        await new Promise(resolve => setTimeout(resolve, 5));
      }
      expect(exit).toHaveBeenCalledWith(130);
      expect(slurm.cancelled).toEqual(['100']);
      expect(
        existsSync(path.join(ctx.dir, 'state', 'slurm-kernels', 'doctor'))
      ).toBe(true);
      expect(
        readdirSync(path.join(ctx.dir, 'state', 'slurm-kernels', 'doctor'))
      ).toEqual([]);
      await running;
      expect(process.listenerCount('SIGINT')).toBe(0);
    } finally {
      exit.mockRestore();
    }
  });
});
