/**
 * What the outage tests share: a cell that ticks through an outage, the outage itself as the lab
 * sees it (a problem on the allocation, the kernel never dead), the ticks checked after, and a job
 * ending by its dead-man's switch.
 */
import { readFileSync } from 'node:fs';
import type {
  Allocation,
  AllocationProblem
} from '../../../src/api/allocation';
import { listJobs, LocalRunner, lookUpJob } from '../../src/slurm';
import type { ILabSide } from './setup';
import { waitFor } from './testbed';

/** A cell printing `tick 0` … every `everyS` seconds, then counting itself in x. */
export const ticking = (count: number, everyS: number) =>
  [
    'import time',
    `for i in range(${count}):`,
    "    print('tick', i, flush=True)",
    `    time.sleep(${everyS})`,
    'x += 1'
  ].join('\n');

export const ticksOf = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map(line => Number(/^tick (\d+)$/.exec(line)?.[1] ?? NaN));

export interface IOutage {
  down: () => Promise<void>;
  up: () => Promise<void>;
  /** What the lab must say meanwhile, and a word its message must hold. */
  problem: AllocationProblem['kind'];
  mentions: string;
  /** How long it lasts; default 2 minutes. */
  lastsMs?: number;
  /** Checked while it lasts, once the lab says so. */
  meanwhile?: () => Promise<void>;
}

/**
 * An outage of `lastsMs`: the lab says `problem` (the allocation kept ready, the kernel never
 * dead) until it is over, and nothing once it is.
 */
export async function rideOut(lab: ILabSide, o: IOutage): Promise<void> {
  const kernelState = async () =>
    (await lab.server.json('GET', '/api/kernels'))[0]?.execution_state;
  await o.down();
  const downAt = Date.now();
  const unreachable: Allocation = await waitFor(
    `the lab to say ${o.problem}`,
    async () => {
      const [a] = await lab.harness.list();
      return a?.problem?.kind === o.problem ? a : undefined;
    },
    110_000,
    1_000
  );
  expect(unreachable).toMatchObject({ state: 'ready', outcome: null });
  expect(unreachable.problem?.message).toContain(o.mentions);
  expect(await kernelState()).not.toBe('dead');
  await o.meanwhile?.();
  await new Promise(resolve =>
    setTimeout(
      resolve,
      Math.max(0, downAt + (o.lastsMs ?? 120_000) - Date.now())
    )
  );
  expect(await kernelState()).not.toBe('dead');
  await o.up();
  await waitFor(
    'the problem cleared',
    async () => !(await lab.harness.list())[0]?.problem,
    120_000,
    1_000
  );
}

/**
 * Every tick once, in order, through to the end, with at most one gap: what the gateway wrote
 * into the dead link before its websocket ping timed out (30 s, plus a ping interval, and the
 * output the link still took) is lost with that connection; from then on the gateway buffered
 * and replayed. (A relay on the node could close that gap too.)
 */
export function expectTicksInOrder(stdout: string, count: number): void {
  const ticks = ticksOf(stdout);
  const gaps = ticks.filter((t, i) => i > 0 && t !== ticks[i - 1] + 1);
  expect(ticks[0]).toBe(0);
  expect(ticks[ticks.length - 1]).toBe(count - 1);
  expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
  expect(gaps.length).toBeLessThanOrEqual(1);
  expect(count - ticks.length).toBeLessThanOrEqual(25); // 50 s of output at most
}

/**
 * Waits for a job to end by its dead-man's switch (after `deadManS`), as Slurm and its log say.
 */
export async function expectEndedByDeadMan(
  jobId: string,
  jobLog: string,
  deadManS: number
): Promise<void> {
  const runner = new LocalRunner();
  await waitFor(
    'the job to end itself',
    async () =>
      (await listJobs(runner, { jobIds: [jobId] }))[0]?.state !== 'RUNNING',
    90_000,
    1_000
  );
  expect(await lookUpJob(runner, jobId)).toMatchObject({
    kind: 'known',
    state: 'FAILED',
    exitCode: '26:0'
  });
  expect(readFileSync(jobLog, 'utf8')).toMatch(
    new RegExp(
      `no companion has been in touch for \\d+ s and no kernel is busy: the job ends itself \\(dead-man's switch, after ${deadManS} s\\)`
    )
  );
}
