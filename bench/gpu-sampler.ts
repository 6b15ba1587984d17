/**
 * Benchmark: what the GPU sampler costs, on the testbed, as the test user. For a gpu:2 job it
 * measures over a window, per sampling interval:
 *
 * - CPU of the job's gateway with its sampler thread, against a gateway of the same kind without
 *   nvidia-smi on its PATH (no sampler): the difference is what reading and keeping samples costs;
 * - CPU of the sampler's nvidia-smi: on the testbed that is the stand-in (a Python script replaying
 *   captures), so it says nothing of the real nvidia-smi's cost, which the reference gives
 *   (../shared/reference/gpu-awareness.md §6);
 * - what the companion's asks add to its connection: requests and response bytes per minute, asked
 *   as the companion asks (the rounds since the last answer, every two intervals).
 *
 * Prints Markdown. Run with `bash bench/run.sh gpu-sampler` (as root; it runs this as the test user).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { LocalRunner } from '../companion/src/slurm';
import { companionHostConfig } from '../companion/src/tunnel/hostConfig';
import { SshPool } from '../companion/src/tunnel/ssh';
import { Harness } from '../companion/test/integration/harness';

const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 120);
const INTERVALS_S = (process.env.BENCH_INTERVALS_S ?? '5,1')
  .split(',')
  .map(Number);
const SITE_ENV = '/opt/slurm-kernels/site-env';
const TICKS_PER_S = 100; // Linux USER_HZ

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

function samplerOf(jobId: string): number | undefined {
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (
        cmdline.includes('testbed-gpu/bin/nvidia-smi') &&
        environ.split('\0').includes(`SLURM_JOB_ID=${jobId}`)
      ) {
        return Number(pid);
      }
    } catch {
      // gone, or not ours
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

interface IRow {
  interval: number;
  gatewayMsPerMin: number;
  baselineMsPerMin: number;
  samplerMsPerMin: number | null;
  requestsPerMin: number;
  bytesPerMin: number;
}

async function measure(tunnels: SshPool, interval: number): Promise<IRow> {
  // A harness per run: stopping one removes its home.
  const harness = new Harness();
  // A job environment without nvidia-smi: the gateway runs no sampler (the baseline).
  harness.writePresets({
    'no-nvidia-smi': {
      venv: SITE_ENV,
      init: ['PATH=${PATH//\\/opt\\/slurm-kernels\\/testbed-gpu\\/bin:/}']
    }
  });
  harness.env.SLURM_KERNELS_GPU_SAMPLE_S = String(interval);
  await harness.startCompanion();
  try {
    const [withSampler, without] = await Promise.all([
      harness.requestGpu(),
      harness.requestGpu({ preset: 'no-nvidia-smi' })
    ]);
    await sleep(5_000); // past the start: the gateways idle, the sampler in its loop
    const gateway = harness.rendezvousOf(withSampler.id).pid;
    const baseline = harness.rendezvousOf(without.id).pid;
    const sampler = samplerOf(withSampler.jobId as string);
    const client = harness.gatewayOf(withSampler, tunnels);
    const before = {
      gateway: cpuMs(gateway),
      baseline: cpuMs(baseline),
      sampler: sampler ? cpuMs(sampler) : 0
    };
    let requests = 0;
    let bytes = 0;
    let seq: number | undefined;
    const end = Date.now() + WINDOW_S * 1000;
    while (Date.now() < end) {
      const answer = (await client.gpus(seq)) as { seq: number };
      requests += 1;
      bytes += Buffer.byteLength(JSON.stringify(answer));
      seq = answer.seq;
      await sleep(Math.max(2_000, 2 * interval * 1000));
    }
    const perMin = (ms: number) => (ms * 60) / WINDOW_S;
    const row = {
      interval,
      gatewayMsPerMin: perMin(cpuMs(gateway) - before.gateway),
      baselineMsPerMin: perMin(cpuMs(baseline) - before.baseline),
      samplerMsPerMin: sampler ? perMin(cpuMs(sampler) - before.sampler) : null,
      requestsPerMin: perMin(requests),
      bytesPerMin: perMin(bytes)
    };
    client.dispose();
    return row;
  } finally {
    // Also when a request or a measure failed: no job outlives the bench.
    await harness.cancelEverything().catch(() => undefined);
    await harness.stop();
  }
}

async function main(): Promise<void> {
  const tunnels = new SshPool({
    hostConfig: companionHostConfig(new LocalRunner())
  });
  const rows: IRow[] = [];
  try {
    for (const interval of INTERVALS_S) {
      process.stderr.write(
        `gpu sampler: ${interval} s interval, ${WINDOW_S} s window\n`
      );
      rows.push(await measure(tunnels, interval));
    }
  } finally {
    tunnels.dispose();
  }
  const f = (n: number | null, digits = 0) =>
    n === null ? '—' : n.toFixed(digits);
  const lines = [
    `GPU sampler, 1 GPU asked (the node's stand-in lists 2), ${WINDOW_S} s window, ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| interval | gateway CPU ms/min | same gateway kind without sampler | stand-in nvidia-smi CPU ms/min | asks/min | response bytes/min |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      r =>
        `| ${r.interval} s | ${f(r.gatewayMsPerMin)} | ${f(r.baselineMsPerMin)} | ${f(r.samplerMsPerMin)} | ${f(r.requestsPerMin, 1)} | ${f(r.bytesPerMin)} |`
    )
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

void main().then(
  () => process.exit(0),
  err => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  }
);
