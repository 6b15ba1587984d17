/**
 * POST /api/allocations: bad requests are refused with a 400 naming the field, and reach no Slurm
 * command; a good one becomes exactly one sbatch with argv values and the script on stdin.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Gateway } from '../../../src/allocations/gateway';
import { AllocationManager } from '../../../src/allocations/manager';
import { createApp, IListening, listenOnSocket } from '../../../src/http/app';
import { KernelspecWriter } from '../../../src/kernelspecs/writer';
import { CachedCluster } from '../../../src/routes/cluster';
import { requestJson } from '../http/request';
import { FakeRunner } from '../slurm/fake-runner';
import { fixture, unusedTransports } from '../fixtures';

const pendingRow = [
  '4242',
  'PENDING',
  'Priority',
  '',
  'gres:gpu:tesla:1',
  'gpu',
  'x',
  'alice',
  '30:00',
  '0:00',
  'N/A',
  'N/A',
  'slurm-kernels'
].join('\u001f');

describe('requesting an allocation', () => {
  let dir: string;
  let listening: IListening;
  let manager: AllocationManager;
  const socket = () => path.join(dir, 'c.sock');
  const runner = new FakeRunner(argv => {
    switch (argv[0]) {
      case 'sinfo':
        return { stdout: fixture('sinfo-nodes.txt') };
      case 'scontrol':
        return argv.includes('partition')
          ? { stdout: fixture('scontrol-partitions.txt') }
          : { code: 1 };
      case 'sbatch':
        return { stdout: '4242\n' };
      case 'squeue':
        return argv.includes('--start')
          ? { stdout: '4242|N/A\n' }
          : { stdout: pendingRow };
      default:
        return { stdout: '' };
    }
  });
  const slurmCommands = () =>
    runner.calls
      .map(c => c.argv[0])
      .filter(c => c === 'sbatch' || c === 'scancel');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-req-'));
    const log = pino({ level: 'silent' });
    const kernelspecs = new KernelspecWriter({
      dataDir: path.join(dir, 'data'),
      shimArgv: ['node', 'shim.js']
    });
    const gateway = new Gateway({
      transports: unusedTransports(),
      kernelspecs,
      log
    });
    const cluster = new CachedCluster(runner, 0);
    // Polls are pushed far out: this test is about requests, not the lifecycle.
    manager = new AllocationManager({
      runner,
      cluster,
      stateDir: path.join(dir, 'state'),
      gateway,
      log,
      fastPollMs: 3_600_000
    });
    listening = await listenOnSocket(
      createApp({ cluster, allocations: manager, gateway, log, version: 't' }),
      socket()
    );
  });

  afterAll(async () => {
    await manager.dispose();
    await listening.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [
      { partition: 'gpu', gres: 'gpu:99', time: '1:00:00' },
      'gres',
      'no node of gpu has 99 GPUs; at most 2 per node'
    ],
    [
      { partition: 'nope', time: '1:00:00' },
      'partition',
      'no partition "nope" on this cluster (there are: cpu, gpu)'
    ],
    [
      { partition: 'gpu', time: '9:00:00' },
      'time',
      'partition gpu allows at most 08:00:00'
    ],
    [
      { partition: 'gpu', time: '1:00:00', qos: 'normal\nsrun x' },
      'qos',
      expect.stringContaining('qos: QOS')
    ]
  ])(
    'refuses %j with a 400 naming %s, submitting nothing',
    async (body, field, message) => {
      const res = await requestJson(socket(), 'POST', '/api/allocations', body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', field, message });
      expect(slurmCommands()).toEqual([]);
    }
  );

  it('submits a valid request as one sbatch: values in argv, script on stdin, tagged', async () => {
    const res = await requestJson(socket(), 'POST', '/api/allocations', {
      partition: 'gpu',
      gres: 'gpu:tesla:1',
      time: '30',
      cpus: 2,
      memory: '4G',
      constraint: 'tesla&ib',
      environment: { venv: '/opt/slurm-kernels/site-env' }
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      jobId: '4242',
      state: 'submitted',
      request: { partition: 'gpu', gres: 'gpu:tesla:1' }
    });
    const sbatch = runner.calls.filter(c => c.argv[0] === 'sbatch');
    expect(sbatch).toHaveLength(1);
    expect(sbatch[0].argv).toEqual(
      expect.arrayContaining([
        '--partition=gpu',
        '--gres=gpu:tesla:1',
        '--time=30',
        '--cpus-per-task=2',
        '--mem=4G',
        '--constraint=tesla&ib',
        `--comment=${manager.jobTag(res.body.id)}`,
        '--signal=B:USR1@300',
        '--export=NONE'
      ])
    );
    // The tag names the allocation, so a submission sbatch did not confirm is found by it.
    expect(manager.jobTag(res.body.id)).toMatch(
      new RegExp(`^slurm-kernels:[0-9a-f]{8}:${res.body.id}$`)
    );
    expect(sbatch[0].input).toContain(
      "source '/opt/slurm-kernels/site-env/bin/activate'"
    );
    const listed = await requestJson(socket(), 'GET', '/api/allocations');
    expect(
      listed.body.allocations.map((a: { jobId: string }) => a.jobId)
    ).toEqual(['4242']);
    // The first poll follows at once: one squeue for all jobs, and the reason in plain words.
    let pending: any;
    for (let i = 0; i < 100 && pending?.state !== 'pending'; i++) {
      pending = (
        await requestJson(socket(), 'GET', `/api/allocations/${res.body.id}`)
      ).body;
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    expect(pending.pendingReason).toEqual({
      code: 'Priority',
      text: expect.stringMatching(/higher priority/)
    });
    // Named by its Slurm job id, as squeue and the notifications show it.
    const byJob = await requestJson(socket(), 'GET', '/api/allocations/4242');
    expect(byJob.body.id).toBe(res.body.id);
    const missing = await requestJson(socket(), 'GET', '/api/allocations/99');
    expect(missing).toEqual({
      status: 404,
      body: {
        error: 'not_found',
        message: 'no allocation or job 99 (see: slurm-kernels list)'
      }
    });
  });

  it('refuses a job id that names two live allocations, cancelling nothing', async () => {
    // This fake sbatch answers 4242 again: two live allocations now share the job id.
    const second = await requestJson(socket(), 'POST', '/api/allocations', {
      partition: 'gpu',
      time: '30'
    });
    expect(second.status).toBe(201);
    const before = slurmCommands().length;
    const res = await requestJson(socket(), 'DELETE', '/api/allocations/4242');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      error: 'ambiguous',
      message: expect.stringContaining(second.body.id)
    });
    expect(res.body.message).toMatch(/name one by its allocation id/);
    expect(slurmCommands().length).toBe(before);
  });

  it('previews the exact job script of a valid request, and refuses an invalid one the same way', async () => {
    const ok = await requestJson(socket(), 'POST', '/api/job-script', {
      partition: 'gpu',
      gres: 'gpu:1',
      time: '10',
      environment: { modules: ['cuda/12.4'] }
    });
    expect(ok.status).toBe(200);
    expect(ok.body.script).toMatch(/^#!\/bin\/bash -l\n/);
    expect(ok.body.script).toContain("module load 'cuda/12.4'");
    const bad = await requestJson(socket(), 'POST', '/api/job-script', {
      partition: 'gpu',
      gres: 'gpu:7',
      time: '10'
    });
    expect(bad).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        field: 'gres',
        message: 'no node of gpu has 7 GPUs; at most 2 per node'
      }
    });
  });
});
