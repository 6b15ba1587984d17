/**
 * Nodes that refuse SSH: the companion reaches the job's gateway through relay steps of the job
 * (`srun --overlap --gres=none -u`), chosen by itself where ssh fails, and says so. Through srun,
 * cells do not cost steps (one per connection, connections kept), and nothing is left behind: no
 * step, no relay on the node, no srun here; steps a killed companion leaked are ended by the next.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Allocation } from '../../../src/api/allocation';
import { relayStepName } from '../../src/tunnel/srunRelay';
import { currentOf, ILabSide, notebookOn, useLabSide } from './setup';
import {
  dropSshConnections,
  injectFault,
  liveJobsOfOurs,
  relaySrunsOf,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const STEP_NAME = relayStepName();

async function output(file: string, args: string[]): Promise<string> {
  return (await promisify(execFile)(file, args)).stdout;
}

/** Every relay step the job ever made, running or done, as accounting lists them. */
async function relayStepsEver(jobId: string): Promise<string[]> {
  const rows = await output('sacct', [
    '-j',
    jobId,
    '--noheader',
    '--parsable2',
    '--format=JobID,JobName'
  ]);
  return rows
    .split('\n')
    .map(row => row.split('|'))
    .filter(([, name]) => name === STEP_NAME)
    .map(([id]) => id);
}

/** The job's steps that run now, relay or not. */
async function liveSteps(jobId: string): Promise<string[]> {
  const rows = await output('squeue', [
    '--noheader',
    '--steps',
    `--jobs=${jobId}`,
    '--format=%i %j'
  ]).catch(() => '');
  return rows
    .split('\n')
    .map(row => row.trim())
    .filter(row => row.startsWith(`${jobId}.`) && row.endsWith(STEP_NAME))
    .map(row => row.split(' ')[0]);
}

/** Relay programs running on any node (the testbed's nodes share one pid namespace). */
async function relaysOnNodes(): Promise<number> {
  const ps = await output('ps', ['-eo', 'args=']);
  return ps
    .split('\n')
    .filter(args => args.includes('import os,socket,sys,threading')).length;
}

async function hostOfKernel(
  lab: ILabSide,
  allocation: Allocation,
  name: string
): Promise<string> {
  const { session, channel } = await notebookOn(lab, allocation, name);
  try {
    const { stdout } = await channel.execute(
      "import os, socket; print(socket.gethostname(), os.environ['SLURM_JOB_ID'])"
    );
    expect(stdout.trim()).toBe(`${allocation.node} ${allocation.jobId}`);
    return allocation.node as string;
  } finally {
    channel.close();
    await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  }
}

/** Two allocations, one per node (a gpu:2 request fills one), ready, by node. */
async function oneOnEachNode(
  lab: ILabSide
): Promise<Record<string, Allocation>> {
  const gpu2 = ['-p', 'gpu', '--gres', 'gpu:2', '-t', '10', '--wait'];
  const both = await Promise.all([0, 1].map(() => lab.harness.request(gpu2)));
  const byNode = Object.fromEntries(both.map(a => [a.node as string, a]));
  expect(Object.keys(byNode).sort()).toEqual(['node1', 'node2']);
  return byNode;
}

describe('in auto mode', () => {
  const lab = useLabSide();

  afterAll(async () => {
    for (const node of ['node1', 'node2']) {
      await injectFault('sshd', node, 'start');
    }
  });

  it('uses ssh where the node has it and the srun relay where its sshd is down (one of each)', async () => {
    await injectFault('sshd', 'node2', 'stop');
    const byNode = await oneOnEachNode(lab);
    expect(byNode.node1.transport).toEqual({ kind: 'ssh', note: null });
    expect(byNode.node2.transport?.kind).toBe('srun');
    expect(byNode.node2.transport?.note).toMatch(
      /^ssh to node2 failed \(.*(ECONNREFUSED|refused)/
    );
    expect(await hostOfKernel(lab, byNode.node1, 'on-ssh')).toBe('node1');
    expect(await hostOfKernel(lab, byNode.node2, 'on-srun')).toBe('node2');
    const listed = await lab.harness.cli(['list']);
    expect(listed.stdout).toMatch(/ on node2 via srun\t/);
    expect(listed.stdout).toMatch(/ on node1 via ssh\t/);
    await lab.harness.cancelEverything();
  });

  it('uses the srun relay where the node forbids TCP forwarding', async () => {
    await injectFault('sshd', 'node1', 'no-forwarding');
    // The companion's connection from before keeps the old rules: a new one meets the new.
    await dropSshConnections();
    const byNode = await oneOnEachNode(lab);
    expect(byNode.node1.transport?.kind).toBe('srun');
    expect(byNode.node1.transport?.note).toMatch(
      /^ssh to node1 failed \(node1: cannot open a tunnel/
    );
    // node2's refusal is remembered: its next allocation goes to srun at once, saying why.
    expect(byNode.node2.transport?.kind).toBe('srun');
    expect(byNode.node2.transport?.note).toMatch(/^ssh to node2 failed/);
    expect(await hostOfKernel(lab, byNode.node1, 'no-forwarding')).toBe(
      'node1'
    );
    await lab.harness.cancelEverything();
  });
});

describe('through the srun relay', () => {
  const lab = useLabSide(harness => {
    harness.env.SLURM_KERNELS_NODE_TRANSPORT = 'srun';
  });
  let allocation: Allocation;

  beforeAll(async () => {
    allocation = await lab.harness.requestGpu();
  });

  it('spends a step per connection, not per cell: 100 cells and 3 reconnects', async () => {
    expect(allocation.transport).toEqual({ kind: 'srun', note: null });
    const jobId = allocation.jobId as string;
    const { session, channel } = await notebookOn(lab, allocation, 'steps');
    try {
      // The kernel's websocket and at most two REST connections, each one step.
      const atStart = (await relayStepsEver(jobId)).length;
      expect(atStart).toBeGreaterThanOrEqual(2);
      expect(atStart).toBeLessThanOrEqual(3);
      for (let i = 0; i < 100; i++) {
        await channel.execute('x += 1');
      }
      expect(await relayStepsEver(jobId)).toHaveLength(atStart);
      const companion = lab.harness.companionPid as number;
      for (let drop = 0; drop < 3; drop++) {
        const sruns = await relaySrunsOf(companion);
        sruns.forEach(pid => process.kill(pid, 'SIGTERM'));
        // The bridge reopens the kernel's websocket at once, in a new step (a request sent into
        // the dying one would be lost with it, as with any link that drops).
        await waitFor(
          'the websocket reopened',
          async () => {
            const now = await relaySrunsOf(companion);
            return now.length > 0 && now.every(pid => !sruns.includes(pid));
          },
          30_000,
          100
        );
        expect((await channel.execute('x += 1')).reply.status).toBe('ok');
      }
      expect((await channel.execute('print(x)')).stdout).toBe('104\n');
      // Each reconnect reopens the websocket; REST reopens a connection when it needs one.
      const after = (await relayStepsEver(jobId)).length;
      expect(after).toBeGreaterThanOrEqual(atStart + 3);
      expect(after).toBeLessThanOrEqual(atStart + 3 * 3);
    } finally {
      channel.close();
      await lab.server.request('DELETE', `/api/sessions/${session.id}`);
    }
  });

  it('ends the steps a companion killed with its sruns leaked, when the next one starts', async () => {
    const { session, channel } = await notebookOn(lab, allocation, 'leak');
    try {
      const companion = lab.harness.companionPid as number;
      const sruns = await relaySrunsOf(companion);
      // srun and its shepherd killed together leak the step (reference/srun-relay.md §4).
      const shepherds = (
        await Promise.all(sruns.map(pid => relaySrunsOf(pid)))
      ).flat();
      expect(shepherds.length).toBeGreaterThan(0);
      const leaked = await liveSteps(allocation.jobId as string);
      expect(leaked.length).toBeGreaterThan(0);
      // The shim starts a companion on demand at once; it re-adopts the job and, before it
      // reconnects, ends the steps still there (the kept REST connections would stay for the
      // job's life: the gateway keeps idle connections open). A cell sent before the shim has
      // reattached could be lost in the dead connection, as with any transport.
      const reattached = () =>
        lab.server.output.match(/slurm-kernels: reattached to kernel/g)
          ?.length ?? 0;
      const before = reattached();
      for (const pid of [companion, ...sruns, ...shepherds]) {
        process.kill(pid, 'SIGKILL');
      }
      await waitFor(
        'the shim to reattach',
        async () => reattached() > before,
        60_000,
        200
      );
      expect((await channel.execute('print(x)')).stdout).toBe('1\n');
      const log = path.join(
        lab.harness.env.XDG_STATE_HOME as string,
        'slurm-kernels',
        'companion.log'
      );
      const reaped = readFileSync(log, 'utf8')
        .split('\n')
        .filter(line =>
          line.includes('ended relay steps an earlier companion left')
        )
        .flatMap(line => JSON.parse(line).steps as string[]);
      expect(reaped.length).toBeGreaterThan(0);
      expect(leaked).toEqual(expect.arrayContaining(reaped));
      await waitFor(
        'the leaked steps to end',
        async () => {
          const live = await liveSteps(allocation.jobId as string);
          return leaked.every(step => !live.includes(step));
        },
        30_000,
        500
      );
    } finally {
      channel.close();
      await lab.server.request('DELETE', `/api/sessions/${session.id}`);
    }
  });

  it('leaves no step, no relay on the node and no srun here after cancel', async () => {
    const current = await currentOf(lab, allocation);
    expect(current.state).toBe('ready');
    expect(await relaysOnNodes()).toBeGreaterThan(0);
    const cancelled = await lab.harness.cli(['cancel', allocation.id]);
    expect(cancelled.code).toBe(0);
    await waitFor(
      'the job to leave Slurm',
      async () =>
        !(await liveJobsOfOurs()).includes(allocation.jobId as string),
      60_000,
      250
    );
    await waitFor(
      'no relay step, relay or srun left',
      async () =>
        (await liveSteps(allocation.jobId as string)).length === 0 &&
        (await relaysOnNodes()) === 0 &&
        (await relaySrunsOf((await lab.harness.servingPid()) ?? -1)).length ===
          0,
      30_000,
      250
    );
  });
});
