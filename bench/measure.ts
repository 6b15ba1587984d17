/**
 * What the benchmarks share: the interleaved `pass` round trips and 100 MiB bulk output over
 * kernel channels, and the statistics printed.
 */
import { readFileSync } from 'node:fs';
import type { KernelChannel } from '../companion/test/integration/jupyter';

export const N = Number(process.env.BENCH_N ?? 1000);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 50);
export const BULK_REPS = Number(process.env.BENCH_BULK_REPS ?? 3);
export const SITE_ENV = '/opt/slurm-kernels/site-env';
export const BULK_CELL =
  "import sys\nfor _ in range(100): sys.stdout.write('x'*1048576)";
export const BULK_FLUSH_CELL =
  "import sys\nfor _ in range(100):\n    sys.stdout.write('x'*1048576); sys.stdout.flush()";
const BULK_CHARS = 100 * 1048576;

export interface IPath {
  name: string;
  channel: KernelChannel;
}

export const fmt = (x: number) => x.toFixed(1);

export function percentile(sorted: number[], p: number): number {
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50
  );
}

export function listWithMedian(values: number[]): string {
  return `${values.map(fmt).join(', ')} (${fmt(median(values))})`;
}

export interface IRoundTrips {
  /** Request sent → execute_reply, as the baseline measured. */
  reply: number[];
  /** Request sent → execute_reply and status idle both received. */
  idle: number[];
}

export async function roundTrips(
  paths: IPath[]
): Promise<Map<string, IRoundTrips>> {
  const samples = new Map(
    paths.map(p => [p.name, { reply: [], idle: [] } as IRoundTrips])
  );
  for (let round = 0; round < WARMUP + N; round++) {
    for (let i = 0; i < paths.length; i++) {
      const p = paths[(round + i) % paths.length]; // rotate the order every round
      const { ms, replyMs, reply } = await p.channel.execute('pass');
      if (reply.status !== 'ok') {
        throw new Error(`${p.name}: pass failed`);
      }
      if (round >= WARMUP) {
        samples.get(p.name)!.reply.push(replyMs);
        samples.get(p.name)!.idle.push(ms);
      }
    }
  }
  return samples;
}

export interface IBulk {
  /** MiB/s per repetition. */
  rates: number[];
  /** CPU time of the whole machine (all processes, user + system) per MiB, per repetition. */
  cpuMsPerMiB: number[];
}

/** Busy CPU time of the whole machine so far, in ms (/proc/stat's first line; USER_HZ is 100). */
function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync(
    '/proc/stat',
    'utf8'
  )
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) * 10;
}

export async function bulk(
  paths: IPath[],
  cell: string
): Promise<Map<string, IBulk>> {
  const results = new Map(
    paths.map(p => [p.name, { rates: [], cpuMsPerMiB: [] } as IBulk])
  );
  for (let rep = 0; rep < BULK_REPS; rep++) {
    for (const p of rep % 2 ? [...paths].reverse() : paths) {
      const busyBefore = machineBusyMs();
      const { ms, stdout } = await p.channel.execute(cell, {
        timeoutMs: 300_000
      });
      const busy = machineBusyMs() - busyBefore;
      if (stdout.length !== BULK_CHARS) {
        throw new Error(
          `${p.name}: ${stdout.length} of ${BULK_CHARS} characters arrived`
        );
      }
      results.get(p.name)!.rates.push(100 / (ms / 1000));
      results.get(p.name)!.cpuMsPerMiB.push(busy / 100);
    }
  }
  return results;
}

/** `pass` round trips as a Markdown table, a row per path. */
export function roundTripTable(
  paths: IPath[],
  rt: Map<string, IRoundTrips>
): string[] {
  const out = [
    '| path | `pass` median ms | p90 | p99 | max | p99 to idle | over 30 ms |',
    '|---|---:|---:|---:|---:|---:|---:|'
  ];
  for (const p of paths) {
    const s = [...rt.get(p.name)!.reply].sort((a, b) => a - b);
    const idle = [...rt.get(p.name)!.idle].sort((a, b) => a - b);
    out.push(
      `| ${p.name} | ${fmt(percentile(s, 50))} | ${fmt(percentile(s, 90))} | ${fmt(percentile(s, 99))} | ${fmt(s[s.length - 1])} | ` +
        `${fmt(percentile(idle, 99))} | ${fmt((100 * s.filter(ms => ms > 30).length) / s.length)} % |`
    );
  }
  return out;
}

/** 100 MiB of output, written at once and flushed per MiB, as a Markdown table. */
export function bulkTable(
  paths: IPath[],
  bulkOne: Map<string, IBulk>,
  bulkFlush: Map<string, IBulk>
): string[] {
  const out = [
    '100 MiB of output: MiB/s per repetition (median), and the CPU time the whole machine spent per MiB (median).',
    '',
    '| path | as written, MiB/s | CPU ms/MiB | flushed per MiB, MiB/s | CPU ms/MiB |',
    '|---|---|---:|---|---:|'
  ];
  for (const p of paths) {
    const one = bulkOne.get(p.name)!;
    const flushed = bulkFlush.get(p.name)!;
    out.push(
      `| ${p.name} | ${listWithMedian(one.rates)} | ${fmt(median(one.cpuMsPerMiB))} | ` +
        `${listWithMedian(flushed.rates)} | ${fmt(median(flushed.cpuMsPerMiB))} |`
    );
  }
  return out;
}

/** What a benchmark started, each stopped at its end, last first. */
export type Cleanup = Array<() => Promise<void>>;

/** Runs a benchmark: a failure is printed with its stack and sets the exit code; cleanup runs either way. */
export function runBench(main: () => Promise<void>, cleanup: Cleanup): void {
  main()
    .catch(err => {
      process.stderr.write(
        `bench failed: ${err instanceof Error ? err.stack : String(err)}\n`
      );
      process.exitCode = 1;
    })
    .finally(async () => {
      for (const step of cleanup.reverse()) {
        await step().catch(() => undefined);
      }
    });
}
