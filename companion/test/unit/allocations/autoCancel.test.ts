/**
 * The cancel policy: when the last kernel of a ready allocation was shut down a grace ago, or no code
 * ran in it for the idle limit, it is cancelled; a kernel running code, or one the gateway runs that
 * no bridge here saw, puts it off; "keep" too; and what it counts survives a companion restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unusedTransports } from '../fixtures';
import pino from 'pino';
import type { Allocation, CancelPolicy } from '../../../../src/api/allocation';
import {
  autoCancelDue,
  policyTickMs,
  strictestPolicy
} from '../../../src/allocations/autoCancel';
import { Gateway } from '../../../src/allocations/gateway';
import {
  AllocationManager,
  IManagerOptions
} from '../../../src/allocations/manager';
import type { IRemoteKernel } from '../../../src/gateway/client';
import { KernelspecWriter } from '../../../src/kernelspecs/writer';
import { CachedCluster } from '../../../src/routes/cluster';
import { FakeSlurm } from '../slurm/fake-slurm';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const MIN = 60_000;

describe('autoCancelDue', () => {
  const policy: CancelPolicy = { noKernelMinutes: 5, idleMinutes: 60 };
  const use = { readyAt: T0, kernels: 0, executing: false };

  it('schedules nothing for an allocation that never had a kernel, but the idle limit', () => {
    expect(autoCancelDue(policy, use)).toEqual({
      at: new Date(T0 + 60 * MIN).toISOString(),
      why: 'idle'
    });
    expect(
      autoCancelDue({ noKernelMinutes: 5, idleMinutes: 0 }, use)
    ).toBeNull();
  });

  it('cancels the grace after the last kernel was shut down, unless one runs again', () => {
    const ended = { ...use, lastKernelEndedAt: T0 + 10 * MIN };
    expect(autoCancelDue(policy, ended)).toEqual({
      at: new Date(T0 + 15 * MIN).toISOString(),
      why: 'no_kernel'
    });
    expect(autoCancelDue(policy, { ...ended, kernels: 1 })?.why).toBe('idle');
  });

  it('counts idleness from the last cell, and never while one runs', () => {
    const ran = { ...use, kernels: 1, lastExecution: T0 + 30 * MIN };
    expect(autoCancelDue(policy, ran)?.at).toBe(
      new Date(T0 + 90 * MIN).toISOString()
    );
    expect(autoCancelDue(policy, { ...ran, executing: true })).toBeNull();
  });

  it('counts both limits from a "keep" at the earliest', () => {
    const kept = {
      ...use,
      lastKernelEndedAt: T0,
      keptAt: T0 + 20 * MIN
    };
    expect(autoCancelDue(policy, kept)?.at).toBe(
      new Date(T0 + 25 * MIN).toISOString()
    );
  });

  it('takes the stricter limit of the user and the site, where 0 is never', () => {
    expect(
      strictestPolicy(
        { noKernelMinutes: 5, idleMinutes: 0 },
        { idleMinutes: 120, noKernelMinutes: 0 }
      )
    ).toEqual({
      noKernelMinutes: 5,
      idleMinutes: 120,
      gpuIdleCancelMinutes: 0
    });
    expect(
      strictestPolicy(
        { noKernelMinutes: 30, idleMinutes: 60 },
        {
          noKernelMinutes: 10
        }
      )
    ).toEqual({
      noKernelMinutes: 10,
      idleMinutes: 60,
      gpuIdleCancelMinutes: 0
    });
    expect(
      strictestPolicy(
        { noKernelMinutes: 0, idleMinutes: 0, gpuIdleCancelMinutes: 0 },
        { gpuIdleCancelMinutes: 120 }
      ).gpuIdleCancelMinutes
    ).toBe(120);
  });

  it('cancels GPUs idle for the GPU limit, counted from a "keep" at the earliest, never while code runs', () => {
    const gpuPolicy = { ...policy, gpuIdleCancelMinutes: 15 };
    const held = {
      ...use,
      kernels: 1,
      lastExecution: T0 + 30 * MIN,
      gpusIdleSince: T0 + 10 * MIN
    };
    expect(autoCancelDue(gpuPolicy, held)).toEqual({
      at: new Date(T0 + 25 * MIN).toISOString(),
      why: 'gpu_idle'
    });
    expect(
      autoCancelDue(gpuPolicy, { ...held, keptAt: T0 + 20 * MIN })?.at
    ).toBe(new Date(T0 + 35 * MIN).toISOString());
    expect(autoCancelDue(gpuPolicy, { ...held, executing: true })).toBeNull();
    // Busy GPUs, or use not known: only the other limits.
    expect(
      autoCancelDue(gpuPolicy, { ...held, gpusIdleSince: undefined })?.why
    ).toBe('idle');
    // Unset or 0: never.
    expect(autoCancelDue(policy, held)?.why).toBe('idle');
    // Idle from before it was ready (the gateway's sampler started first): counted from ready.
    expect(
      autoCancelDue(gpuPolicy, { ...held, gpusIdleSince: T0 - 60 * MIN })?.at
    ).toBe(new Date(T0 + 15 * MIN).toISOString());
  });

  it('looks often enough for the shortest limit', () => {
    expect(policyTickMs({ noKernelMinutes: 5, idleMinutes: 0 })).toBe(15_000);
    expect(policyTickMs({ noKernelMinutes: 0.5, idleMinutes: 0 })).toBe(3_000);
    expect(policyTickMs({ noKernelMinutes: 0, idleMinutes: 0 })).toBe(15_000);
    expect(
      policyTickMs({
        noKernelMinutes: 5,
        idleMinutes: 0,
        gpuIdleCancelMinutes: 0.2
      })
    ).toBe(1_200);
  });
});

/** A gateway whose job is always up, whose kernels the test sets, as the bridges and REST see them. */
class FakeGateway extends Gateway {
  bridged = {
    kernels: 0,
    executing: false,
    lastExecution: undefined as number | undefined
  };
  remote: IRemoteKernel[] | undefined = [];

  async connect() {
    this._up = true;
    return { kernelspecs: [], transport: { kind: 'ssh' as const, note: null } };
  }

  kernelUse() {
    return this._up ? { ...this.bridged } : undefined;
  }

  async remoteKernels() {
    return this.remote;
  }

  async release() {
    this._up = false;
  }

  private _up = false;
}

describe('the cancel policy of the manager', () => {
  let dir: string;
  let slurm: FakeSlurm;
  let gateway: FakeGateway;
  const managers: AllocationManager[] = [];

  async function start(
    options: Partial<IManagerOptions> = {}
  ): Promise<AllocationManager> {
    const log = pino({ level: 'silent' });
    const kernelspecs = new KernelspecWriter({
      dataDir: path.join(dir, 'data'),
      shimArgv: ['node', 'shim.js']
    });
    gateway = new FakeGateway({
      transports: unusedTransports(),
      kernelspecs,
      log
    });
    const manager = new AllocationManager({
      runner: slurm.runner,
      cluster: new CachedCluster(slurm.runner, 0),
      stateDir: path.join(dir, 'state'),
      gateway,
      log,
      user: 'alice',
      fastPollMs: 10,
      startingPollMs: 10,
      pendingPollMs: 10,
      slowPollMs: 10,
      retryPollMs: 10,
      policyTickMs: 20,
      ...options
    });
    managers.push(manager);
    await manager.init();
    return manager;
  }

  /** Waits for a check, up to 10 s: a loaded machine (a CI run beside) delays every timer. */
  async function until(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  }

  /** An allocation whose job runs on node1 and whose gateway is reached. */
  async function ready(manager: AllocationManager): Promise<Allocation> {
    const a = await manager.request({ partition: 'gpu', time: '30' });
    Object.assign(slurm.jobs.get(a.jobId as string)!, {
      state: 'RUNNING',
      reason: 'None',
      node: 'node1',
      start: '2026-12-01T10:00:00'
    });
    await until('ready', () => manager.get(a.id).state === 'ready');
    return manager.get(a.id);
  }

  const cancelled = () =>
    slurm.calls('scancel').map(argv => argv[argv.length - 1]);

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-policy-'));
    slurm = new FakeSlurm();
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map(m => m.dispose()));
    // A poll or a save a manager began before dispose still writes its record: let it land.
    await new Promise(resolve => setTimeout(resolve, 300));
    rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
  });

  it('cancels an allocation the grace after its last kernel was shut down, and says why', async () => {
    const manager = await start();
    await manager.setCancelPolicy({ noKernelMinutes: 0.01, idleMinutes: 0 });
    const a = await ready(manager);
    gateway.bridged.kernels = 1;
    await new Promise(resolve => setTimeout(resolve, 1_000)); // longer than the grace: kept
    expect(cancelled()).toEqual([]);
    expect(manager.get(a.id).autoCancel ?? null).toBeNull();
    gateway.bridged.kernels = 0;
    await until(
      'scheduled',
      () => manager.get(a.id).autoCancel?.why === 'no_kernel'
    );
    await until('ended', () => manager.get(a.id).state === 'ended');
    expect(cancelled()).toEqual([a.jobId]);
    expect(manager.get(a.id).outcome?.message).toBe(
      'Cancelled for you: no kernel ran in it for 1 s.'
    );
  });

  it('announces a cancel before it carries it out, also one a lowered limit made overdue', async () => {
    const manager = await start({ policyTickMs: 300 });
    const a = await ready(manager);
    const seen: string[] = [];
    manager.on('changed', changed => {
      if (changed.id === a.id) {
        seen.push(
          changed.state === 'ready'
            ? `${changed.autoCancel?.why}@${changed.autoCancel?.at}`
            : changed.state
        );
      }
    });
    await manager.setCancelPolicy({ noKernelMinutes: 0, idleMinutes: 10 });
    await until(
      'announced',
      () => manager.get(a.id).autoCancel?.why === 'idle'
    );
    const later = manager.get(a.id).autoCancel!.at;
    // Lowered to 60 ms: already past, but the lab has been told 10 min.
    await new Promise(resolve => setTimeout(resolve, 200));
    await manager.setCancelPolicy({ noKernelMinutes: 0, idleMinutes: 0.001 });
    await until('ended', () => manager.get(a.id).state === 'ended');
    const sooner = seen.findIndex(
      s => s.startsWith('idle@') && s !== `idle@${later}`
    );
    expect(sooner).toBeGreaterThanOrEqual(0);
    expect(sooner).toBeLessThan(seen.indexOf('ending'));
  });

  it('never cancels while the gateway says a kernel is busy or runs one no bridge here saw', async () => {
    const manager = await start();
    await manager.setCancelPolicy({
      noKernelMinutes: 0.005,
      idleMinutes: 0.005
    });
    const a = await ready(manager);
    gateway.bridged.kernels = 1;
    await until('seen', () => manager.get(a.id).autoCancel?.why === 'idle');
    gateway.bridged.kernels = 0;
    // A kernel of another login node's companion, busy: nothing is cancelled.
    gateway.remote = [{ id: 'k1', name: 'python3', execution_state: 'busy' }];
    await new Promise(resolve => setTimeout(resolve, 1_000));
    expect(cancelled()).toEqual([]);
    // Idle, but there: the allocation is not without a kernel; idle, it goes at the idle limit.
    gateway.remote = [
      {
        id: 'k1',
        name: 'python3',
        execution_state: 'idle',
        last_activity: new Date().toISOString()
      }
    ];
    await until('ended', () => manager.get(a.id).state === 'ended');
    expect(manager.get(a.id).outcome?.message).toMatch(/no code ran in it/);
  });

  it('cancels nothing while the gateway does not answer', async () => {
    const manager = await start();
    await manager.setCancelPolicy({ noKernelMinutes: 0, idleMinutes: 0.002 });
    const a = await ready(manager);
    gateway.remote = undefined;
    await until('due', () => manager.get(a.id).autoCancel?.why === 'idle');
    await new Promise(resolve => setTimeout(resolve, 500));
    expect(cancelled()).toEqual([]);
    gateway.remote = [];
    await until('ended', () => manager.get(a.id).state === 'ended');
  });

  it('puts the cancel off on "keep"', async () => {
    const manager = await start();
    await manager.setCancelPolicy({ noKernelMinutes: 0, idleMinutes: 0.05 });
    const a = await ready(manager);
    await until('scheduled', () => Boolean(manager.get(a.id).autoCancel));
    const first = manager.get(a.id).autoCancel!.at;
    await new Promise(resolve => setTimeout(resolve, 100));
    const kept = await manager.keep(a.jobId as string);
    expect(Date.parse(kept.autoCancel!.at)).toBeGreaterThan(Date.parse(first));
  });

  it('keeps the policy, and when the last kernel ended, across a companion restart', async () => {
    const first = await start();
    await first.setCancelPolicy({ noKernelMinutes: 0.05, idleMinutes: 0 });
    const a = await ready(first);
    gateway.bridged.kernels = 1;
    await new Promise(resolve => setTimeout(resolve, 100));
    gateway.bridged.kernels = 0;
    await until(
      'scheduled',
      () => first.get(a.id).autoCancel?.why === 'no_kernel'
    );
    const at = first.get(a.id).autoCancel!.at;
    await first.dispose();

    const second = await start(); // its gateway is reached again; no shim reattaches
    expect(second.cancelPolicy).toEqual({
      noKernelMinutes: 0.05,
      idleMinutes: 0,
      gpuIdleCancelMinutes: 0
    });
    await until('ready again', () => second.get(a.id).state === 'ready');
    await until('scheduled again', () => Boolean(second.get(a.id).autoCancel));
    expect(second.get(a.id).autoCancel).toEqual({ at, why: 'no_kernel' });
    await until('ended', () => second.get(a.id).state === 'ended');
  });

  it('refuses a policy it cannot apply, with the field at fault, and keeps the one it had', async () => {
    const manager = await start();
    await expect(
      manager.setCancelPolicy({ noKernelMinutes: -1, idleMinutes: 0 })
    ).rejects.toMatchObject({ status: 400, field: 'noKernelMinutes' });
    await expect(
      manager.setCancelPolicy({ noKernelMinutes: 5 })
    ).rejects.toMatchObject({ status: 400, field: 'idleMinutes' });
    expect(manager.cancelPolicy).toEqual({
      noKernelMinutes: 5,
      idleMinutes: 0,
      gpuIdleCancelMinutes: 0
    });
  });

  it('asks Slurm every retry interval once a ready job is past its time limit, until Slurm ends it', async () => {
    const manager = await start({ slowPollMs: 60_000, retryPollMs: 50 });
    await manager.setCancelPolicy({ noKernelMinutes: 0, idleMinutes: 0 });
    const slurmTime = (ms: number) => new Date(ms).toISOString().slice(0, 19);
    const squeues = async (end: number) => {
      const a = await manager.request({ partition: 'gpu', time: '30' });
      Object.assign(slurm.jobs.get(a.jobId as string)!, {
        state: 'RUNNING',
        reason: 'None',
        node: 'node1',
        start: '2026-12-01T10:00:00',
        end: slurmTime(end)
      });
      await until('ready', () => manager.get(a.id).state === 'ready');
      const before = slurm.calls('squeue').length;
      await new Promise(resolve => setTimeout(resolve, 600));
      const asked = slurm.calls('squeue').length - before;
      await manager.cancel(a.id);
      return asked;
    };
    // Before the limit: the slow interval (and one ask just after the limit).
    expect(await squeues(Date.now() + 3_600_000)).toBeLessThanOrEqual(1);
    // Past it, Slurm not yet enforcing it: asked again and again.
    expect(await squeues(Date.now() - 30_000)).toBeGreaterThanOrEqual(4);
  });
});
