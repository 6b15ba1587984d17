/**
 * Benchmark: our remote kernel against the manual path users take today, on the testbed, as the test
 * user, interleaved in one run (../shared/reference/baseline-perf.md measured the manual path alone).
 *
 * - ours: companion + Kernel Gateway in the job + ssh2 tunnel + bridge, driven through a local Jupyter
 *   Server over its kernel websocket (v1), the way JupyterLab drives it;
 * - ours through the srun relay: the same, with a companion that reaches the gateway through relay
 *   steps of the job (SLURM_KERNELS_NODE_TRANSPORT=srun), its own Jupyter Server;
 * - manual: `jupyter server` in a job on the node, OpenSSH `ssh -N -L`, the server's websocket (v1).
 *
 * Prints Markdown: `pass` round trip to execute_reply (median/p90/p99 over N after warm-up, as the
 * baseline measured it) and its p99 to status idle, 100 MiB of output,
 * Slurm RUNNING → kernelspec visible, and companion RSS with 5 allocations and 20 kernels.
 * Run with bench/run.sh (as root; it runs this as the test user).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { Allocation } from '../src/api/allocation';
import { KERNEL_WS_PROTOCOL } from '../companion/src/gateway/client';
import { listJobs, LocalRunner } from '../companion/src/slurm';
import { Harness } from '../companion/test/integration/harness';
import {
  freePort,
  JupyterServer,
  KernelChannel
} from '../companion/test/integration/jupyter';
import { waitFor } from '../companion/test/integration/testbed';
import {
  BULK_CELL,
  BULK_FLUSH_CELL,
  bulk,
  bulkTable,
  fmt,
  IPath,
  median,
  N,
  roundTripTable,
  roundTrips,
  WARMUP,
  runBench,
  type Cleanup
} from './measure';
import { startManualServer } from './manualServer';

const STARTUP_REPS = Number(process.env.BENCH_STARTUP_REPS ?? 3);

const runner = new LocalRunner();
const cleanup: Cleanup = [];

/** The manual path: jupyter server in a job, reached with `ssh -N -L`. */
async function manualPath(harness: Harness): Promise<IPath> {
  const { token, port, node } = await startManualServer({
    dir: harness.dir,
    jobName: 'bench-manual-path',
    cleanup
  });
  const local = await freePort();
  const ssh: ChildProcess = spawn(
    '/usr/bin/ssh',
    [
      '-N',
      '-o',
      'BatchMode=yes',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `127.0.0.1:${local}:127.0.0.1:${port}`,
      node
    ],
    { stdio: 'ignore', env: harness.env }
  );
  cleanup.push(async () => {
    ssh.kill('SIGTERM');
  });
  const base = `http://127.0.0.1:${local}`;
  const headers = {
    Authorization: `token ${token}`,
    'Content-Type': 'application/json'
  };
  await waitFor(
    'the manual server through ssh -L',
    () =>
      fetch(`${base}/api`, { headers }).then(
        r => r.ok,
        () => false
      ),
    60_000,
    100
  );
  const kernel = (await (
    await fetch(`${base}/api/kernels`, {
      method: 'POST',
      headers,
      body: '{"name":"python3"}'
    })
  ).json()) as { id: string };
  const ws = new WebSocket(
    `ws://127.0.0.1:${local}/api/kernels/${kernel.id}/channels?session_id=${randomBytes(8).toString('hex')}`,
    [KERNEL_WS_PROTOCOL],
    {
      headers,
      maxPayload: 0
    }
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    name: 'manual (jupyter server + ssh -N -L)',
    channel: new KernelChannel(ws)
  };
}

async function ourPath(
  harness: Harness,
  server: JupyterServer,
  name: string
): Promise<{ path: IPath; allocation: Allocation }> {
  const allocation = await harness.request([
    '-p',
    'gpu',
    '--gres',
    'gpu:1',
    '-t',
    '30',
    '--wait'
  ]);
  const session = await server.json('POST', '/api/sessions', {
    path: 'bench.ipynb',
    type: 'notebook',
    kernel: { name: `slurm-${allocation.jobId}-python3` }
  });
  return {
    path: {
      name,
      channel: await server.connect(session.kernel.id)
    },
    allocation
  };
}

/** Slurm RUNNING (squeue polled every 20 ms) → the kernelspec directory exists. */
async function runningToKernelspec(harness: Harness): Promise<number[]> {
  const times: number[] = [];
  for (let rep = 0; rep < STARTUP_REPS; rep++) {
    const allocation = await harness.request([
      '-p',
      'gpu',
      '--gres',
      'gpu:1',
      '-t',
      '10'
    ]);
    let runningAt = 0;
    await waitFor(
      'RUNNING',
      async () => {
        const [job] = await listJobs(runner, {
          jobIds: [allocation.jobId as string]
        });
        runningAt = performance.now();
        return job?.state === 'RUNNING';
      },
      60_000,
      20
    );
    const spec = path.join(
      harness.kernelsDir,
      `slurm-${allocation.jobId}-python3`,
      'kernel.json'
    );
    await waitFor('the kernelspec', async () => existsSync(spec), 60_000, 20);
    times.push(performance.now() - runningAt);
    await harness.cli(['cancel', allocation.id]);
  }
  return times;
}

/** Companion RSS with 5 allocations (cpu partition) and 4 kernels in each. */
async function companionRss(
  harness: Harness,
  server: JupyterServer
): Promise<{ rssMb: number; kernels: number }> {
  const allocations: Allocation[] = [];
  for (let i = 0; i < 5; i++) {
    allocations.push(await harness.request(['-p', 'cpu', '-t', '10']));
  }
  const channels: KernelChannel[] = [];
  for (const a of allocations) {
    await waitFor(
      `allocation ${a.id} ready`,
      async () => {
        const listed = await harness.list();
        return listed.find(x => x.id === a.id)?.state === 'ready';
      },
      120_000,
      250
    );
    for (let k = 0; k < 4; k++) {
      const s = await server.json('POST', '/api/sessions', {
        path: `rss-${a.id}-${k}.ipynb`,
        type: 'notebook',
        kernel: { name: `slurm-${a.jobId}-python3` }
      });
      const channel = await server.connect(s.kernel.id);
      await channel.execute('x = 1');
      channels.push(channel);
    }
  }
  const status = readFileSync(`/proc/${harness.companionPid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  channels.forEach(c => c.close());
  return { rssMb: rssKb / 1024, kernels: channels.length };
}

/** A companion and a Jupyter Server of their own, in a fresh set of directories. */
async function setUp(
  transport?: 'srun'
): Promise<{ harness: Harness; server: JupyterServer }> {
  const harness = new Harness();
  if (transport) {
    harness.env.SLURM_KERNELS_NODE_TRANSPORT = transport;
  }
  cleanup.push(() => harness.stop());
  cleanup.push(() => harness.cancelEverything());
  await harness.startCompanion();
  const notebooks = path.join(harness.dir, 'notebooks');
  mkdirSync(notebooks);
  // The local server is the one users see: its IOPub limit is off here as on the node (baseline §5.3).
  const server = await JupyterServer.start(harness.env, notebooks, [
    '--ZMQChannelsWebsocketConnection.limit_rate=False'
  ]);
  cleanup.push(() => server.stop());
  return { harness, server };
}

async function main(): Promise<void> {
  // Memory first, in a companion that has carried nothing else.
  const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
  say('companion memory with 5 allocations and 20 kernels');
  const fresh = await setUp();
  const rss = await companionRss(fresh.harness, fresh.server);
  await fresh.harness.cancelEverything();

  say('our path (ssh2)');
  const { harness, server } = await setUp();
  const ours = await ourPath(
    harness,
    server,
    'ours (companion + Kernel Gateway + ssh2)'
  );
  say('our path through the srun relay');
  // The same, reached through relay steps of the job (no ssh to the node).
  const relayed = await setUp('srun');
  const relay = await ourPath(
    relayed.harness,
    relayed.server,
    'ours through the srun relay'
  );
  say('the manual path');
  const manual = await manualPath(harness);
  const paths = [ours.path, relay.path, manual];
  say('round trips and bulk output, interleaved');

  const rt = await roundTrips(paths);
  const bulkOne = await bulk(paths, BULK_CELL);
  const bulkFlush = await bulk(paths, BULK_FLUSH_CELL);
  paths.forEach(p => p.channel.close());
  // Each allocation of the two takes a node's GPU: the RUNNING → kernelspec runs need them back.
  await relayed.harness.cancelEverything();
  await harness.cli(['cancel', ours.allocation.id]);
  say('RUNNING to kernelspec');
  const startup = await runningToKernelspec(harness);
  const relayStartup = await runningToKernelspec(relayed.harness);

  const out: string[] = [];
  out.push(
    `## Remote kernel benchmark (${new Date().toISOString()}, N=${N}, warm-up ${WARMUP}, interleaved)`,
    ''
  );
  out.push(
    ...roundTripTable(paths, rt),
    '',
    ...bulkTable(paths, bulkOne, bulkFlush)
  );
  const seconds = (times: number[]) =>
    `${times.map(ms => `${(ms / 1000).toFixed(2)} s`).join(', ')} (median ${(median(times) / 1000).toFixed(2)} s)`;
  out.push(
    '',
    `Slurm RUNNING → kernelspec visible: ${seconds(startup)}; through the srun relay: ${seconds(relayStartup)}`
  );
  out.push(
    `Companion RSS with 5 allocations and ${rss.kernels} kernels: ${fmt(rss.rssMb)} MiB`,
    ''
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

runBench(main, cleanup);
