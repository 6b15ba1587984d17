/**
 * The lifecycle when Slurm misbehaves, against a fake Slurm that can stop answering, lose sbatch's
 * answer, requeue a job or keep it past a scancel: nothing is ended, cancelled or submitted twice for
 * a fault, and nothing is left running.
 */
import {
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
  existsSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unusedTransports } from '../fixtures';
import pino from 'pino';
import type { Allocation } from '../../../../src/api/allocation';
import { Gateway } from '../../../src/allocations/gateway';
import {
  AllocationManager,
  IManagerOptions
} from '../../../src/allocations/manager';
import { KernelspecWriter } from '../../../src/kernelspecs/writer';
import { CachedCluster } from '../../../src/routes/cluster';
import { FakeSlurm, IFakeJob } from '../slurm/fake-slurm';

describe('the lifecycle under faults', () => {
  let dir: string;
  let slurm: FakeSlurm;
  let manager: AllocationManager;
  const managers: AllocationManager[] = [];

  function start(options: Partial<IManagerOptions> = {}): AllocationManager {
    const log = pino({ level: 'silent' });
    const kernelspecs = new KernelspecWriter({
      dataDir: path.join(dir, 'data'),
      shimArgv: ['node', 'shim.js']
    });
    const made = new AllocationManager({
      runner: slurm.runner,
      cluster: new CachedCluster(slurm.runner, 0),
      stateDir: path.join(dir, 'state'),
      gateway: new Gateway({
        transports: unusedTransports(),
        kernelspecs,
        log
      }),
      log,
      user: 'alice',
      fastPollMs: 10,
      startingPollMs: 10,
      pendingPollMs: 10,
      slowPollMs: 10,
      retryPollMs: 10,
      gatewayStartup: { silenceMs: 60_000, totalMs: 60_000 },
      ...options
    });
    managers.push(made);
    return made;
  }

  async function until(what: string, check: () => boolean): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (check()) {
        return;
      }
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const only = (): Allocation => {
    const all = manager.list();
    expect(all).toHaveLength(1);
    return all[0];
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-faults-'));
    slurm = new FakeSlurm();
    manager = start();
    await manager.init();
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map(m => m.dispose()));
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  const ask = () => manager.request({ partition: 'gpu', time: '30' });

  /** Slurm starts the job on node1. */
  const runsOnNode1 = (job: IFakeJob) =>
    Object.assign(job, {
      state: 'RUNNING',
      reason: 'None',
      node: 'node1',
      start: '2026-12-01T10:00:00'
    });

  it('adopts the job an sbatch submitted but did not confirm, found by its tag: one job, never two', async () => {
    slurm.sbatch = 'submit-then-time-out';
    const a = await ask();
    expect(a.jobId).toBeNull();
    expect(a.problem?.kind).toBe('submission_unconfirmed');
    await until('the job found', () => only().jobId === '100');
    await until('pending', () => only().state === 'pending');
    expect(slurm.calls('sbatch')).toHaveLength(1);
    expect(slurm.jobs.size).toBe(1);
    expect(only().problem).toBeNull();
  });

  it('submits again, once, when Slurm answers and has no job under the tag', async () => {
    slurm.sbatch = 'time-out';
    await ask();
    await until('a second sbatch', () => slurm.calls('sbatch').length >= 2);
    slurm.sbatch = 'ok';
    await until('the job', () => only().jobId !== null);
    await until('pending', () => only().state === 'pending');
    expect(slurm.jobs.size).toBe(1);
    // Every sbatch that lost its answer was preceded by a look for the tag.
    const squeues = slurm
      .calls('squeue')
      .filter(argv => argv.includes('--user=alice'));
    expect(squeues.length).toBeGreaterThanOrEqual(
      slurm.calls('sbatch').length - 1
    );
  });

  it('refuses a request with a clear 503 while Slurm does not answer, submitting nothing', async () => {
    slurm.down = true;
    await expect(ask()).rejects.toMatchObject({
      status: 503,
      code: 'slurm_unreachable',
      message: expect.stringMatching(
        /Slurm did not answer .*nothing was submitted/
      )
    });
    expect(slurm.calls('sbatch')).toEqual([]);
    expect(manager.list()).toEqual([]);
  });

  it('keeps a running allocation as it was while slurmctld is down, says so, and clears it after', async () => {
    await ask();
    await until('pending', () => only().state === 'pending');
    slurm.down = true;
    await until(
      'Slurm unreachable',
      () => only().problem?.kind === 'slurm_unreachable'
    );
    expect(only().state).toBe('pending');
    await new Promise(resolve => setTimeout(resolve, 100)); // many failed polls
    expect(only().state).toBe('pending');
    expect(slurm.calls('scancel')).toEqual([]);
    slurm.down = false;
    await until('the problem cleared', () => only().problem === null);
    expect(only().state).toBe('pending');
  });

  it("says the cluster is unreachable, not Slurm, while a laptop's login to it is lost, and clears it once back", async () => {
    let lost: string | null = null;
    manager = start({ clusterUnreachable: () => lost });
    await manager.init();
    await ask();
    await until('pending', () => only().state === 'pending');
    lost = 'mycluster: the connection to the login node was lost';
    slurm.down = true;
    await until(
      'cluster unreachable',
      () => only().problem?.kind === 'cluster_unreachable'
    );
    expect(only().problem?.message).toContain(lost);
    await new Promise(resolve => setTimeout(resolve, 100)); // many failed polls
    expect(only()).toMatchObject({
      state: 'pending',
      problem: { kind: 'cluster_unreachable' }
    });
    expect(slurm.calls('scancel')).toEqual([]);
    // The login is back but Slurm still does not answer: that is Slurm's silence now.
    lost = null;
    await until(
      'Slurm unreachable',
      () => only().problem?.kind === 'slurm_unreachable'
    );
    slurm.down = false;
    await until('the problem cleared', () => only().problem === null);
    expect(only().state).toBe('pending');
  });

  it.each(['REQUEUE_HOLD', 'SPECIAL_EXIT', 'RESV_DEL_HOLD'])(
    'shows a job held in %s as pending with its reason, never as ended',
    async state => {
      await ask();
      await until('pending', () => only().state === 'pending');
      const job = slurm.jobs.get('100') as IFakeJob;
      job.state = state;
      job.reason = 'JobHeldUser';
      await until(state, () => only().slurmState === state);
      expect(only()).toMatchObject({
        state: 'pending',
        pendingReason: { code: 'JobHeldUser' }
      });
    }
  );

  it.each(['STOPPED', 'SIGNALING', 'STAGE_OUT', 'SUSPENDED'])(
    'keeps a job in %s alive',
    async state => {
      await ask();
      await until('pending', () => only().state === 'pending');
      (slurm.jobs.get('100') as IFakeJob).state = state;
      await until(state, () => only().slurmState === state);
      await new Promise(resolve => setTimeout(resolve, 50));
      expect(only().state).toBe('pending');
      expect(only().outcome).toBeNull();
    }
  );

  it('believes scontrol when squeue leaves a live job out, and ends a job only once Slurm has forgotten it', async () => {
    await ask();
    await until('pending', () => only().state === 'pending');
    slurm.unlisted.add('100');
    await until('scontrol asked', () =>
      slurm.calls('scontrol').some(a => a.includes('100'))
    );
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(only().state).toBe('pending');
    slurm.jobs.delete('100');
    await until('ended', () => only().state === 'ended');
    expect(only().outcome).toMatchObject({
      state: 'UNKNOWN',
      message: expect.stringContaining('Slurm no longer knows job 100')
    });
  });

  it('cancels again, at each poll, a job whose gateway failed until Slurm says it ended', async () => {
    await Promise.all(managers.splice(0).map(m => m.dispose()));
    manager = start({ gatewayStartup: { silenceMs: 30, totalMs: 60 } });
    await manager.init();
    await ask();
    slurm.failingCancels = 3;
    const job = slurm.jobs.get('100') as IFakeJob;
    runsOnNode1(job);
    await until('failed', () => only().state === 'failed');
    expect(only().outcome?.state).toBe('GATEWAY_FAILED');
    await until('the job cancelled', () => job.state === 'CANCELLED');
    expect(slurm.calls('scancel').length).toBe(4);
    await until('CANCELLED seen', () => only().slurmState === 'CANCELLED');
    const calls = slurm.calls('scancel').length;
    await new Promise(resolve => setTimeout(resolve, 60));
    expect(slurm.calls('scancel').length).toBe(calls); // no more once Slurm confirmed
    expect(only().state).toBe('failed');
  });

  it('keeps a cancel Slurm did not answer, carries it out when Slurm is back', async () => {
    await ask();
    await until('pending', () => only().state === 'pending');
    slurm.down = true;
    const a = await manager.cancel(only().id);
    expect(a.state).toBe('ending');
    expect(a.problem?.kind).toBe('cancel_pending');
    slurm.down = false;
    await until('ended', () => only().state === 'ended');
    expect(slurm.jobs.get('100')?.state).toBe('CANCELLED');
  });

  it('goes back to pending when Slurm requeues a running job, dropping the old rendezvous', async () => {
    await ask();
    const job = slurm.jobs.get('100') as IFakeJob;
    runsOnNode1(job);
    await until('running', () => only().state === 'running');
    const rendezvous = path.join(
      dir,
      'state',
      'allocations',
      only().id,
      'rendezvous.json'
    );
    writeFileSync(
      rendezvous,
      '{"host":"node1","port":1,"pid":1,"kind":"kernelgateway"}'
    );
    Object.assign(job, {
      state: 'PENDING',
      reason: 'BeginTime',
      node: '',
      start: 'N/A'
    });
    await until('pending again', () => only().state === 'pending');
    expect(only()).toMatchObject({
      node: null,
      startTime: null,
      kernelspecs: []
    });
    expect(existsSync(rendezvous)).toBe(false);
    expect(slurm.calls('scancel')).toEqual([]);
  });

  it('cancels, at start, a live job of this state dir whose allocation record is gone', async () => {
    const a = await ask();
    await Promise.all(managers.splice(0).map(m => m.dispose()));
    rmSync(path.join(dir, 'state', 'allocations', a.id), { recursive: true });
    slurm.jobs.set('555', {
      ...(slurm.jobs.get('100') as IFakeJob),
      id: '555',
      comment: 'slurm-kernels:00000000:other'
    });
    manager = start();
    await manager.init();
    expect(slurm.calls('scancel')).toEqual([['scancel', '100']]); // not another state dir's job
    expect(manager.list()).toEqual([]);
  });

  it('asks Slurm about a pending job less often the longer it pends, and at once when its log appears', async () => {
    await Promise.all(managers.splice(0).map(m => m.dispose()));
    manager = start({ fastPollMs: 1000, pendingPollMs: 90_000 });
    await manager.init();
    const a = await ask();
    await until('pending', () => only().state === 'pending');
    const before = slurm.calls('squeue').length;
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(slurm.calls('squeue').length).toBe(before);
    runsOnNode1(slurm.jobs.get('100') as IFakeJob);
    mkdirSync(path.join(dir, 'state', 'allocations', a.id), {
      recursive: true
    });
    writeFileSync(
      path.join(dir, 'state', 'allocations', a.id, 'job.log'),
      'starting\n'
    );
    await until('running', () => only().state === 'running');
    expect(slurm.calls('squeue').some(argv => argv.includes('--start'))).toBe(
      false
    );
  });
});
