/**
 * Benchmark: a lab on a laptop, against the manual path users take from a laptop today, both from
 * the testbed's laptop (dev/testbed/laptop.sh: its network reaches the login node's sshd only),
 * through the login node's key + TOTP door, interleaved in one run:
 *
 * - ours: `slurm-kernels serve --cluster testbed-2fa` on the laptop (one ssh2 login), Kernel
 *   Gateway in the job, driven through a Jupyter Server on the laptop over its kernel websocket;
 * - manual: `jupyter server` in a job on the node, and from the laptop
 *   `ssh -N -J testbed-2fa -L SOCKET:127.0.0.1:PORT NODE` (OpenSSH; its code through SSH_ASKPASS),
 *   the server's websocket.
 *
 * The laptop's loopback is its own, so this process reaches both over unix sockets (the laptop's
 * Jupyter Server listens on one, ssh forwards one). Prints Markdown: `pass` round trips, 100 MiB of
 * output, and the time from adding the cluster (the companion started) to a first cell's result,
 * with the person answering at once; the manual path's time from sbatch to its first result.
 * Run with `bash bench/run.sh laptop` (as root; it runs this as the test user).
 */
import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  writeFileSync
} from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { KERNEL_WS_PROTOCOL } from '../companion/src/gateway/client';
import { Harness, onLaptop } from '../companion/test/integration/harness';
import { requestJson } from '../companion/test/unit/http/request';
import {
  JupyterServer,
  KernelChannel
} from '../companion/test/integration/jupyter';
import {
  LaptopPerson,
  LOGIN_DOOR,
  totpCode,
  waitFor,
  writeLoginDoorConfig
} from '../companion/test/integration/testbed';
import {
  BULK_CELL,
  BULK_FLUSH_CELL,
  bulk,
  bulkTable,
  IPath,
  N,
  roundTripTable,
  roundTrips,
  WARMUP,
  runBench,
  type Cleanup
} from './measure';
import { startManualServer } from './manualServer';

const cleanup: Cleanup = [];
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Ours from the laptop: cluster added → logged in → allocation → kernel → first cell. */
async function ourPath(
  harness: Harness
): Promise<{ path: IPath; firstCellMs: number }> {
  const person = new LaptopPerson(harness.socket);
  person.start();
  cleanup.push(async () => person.stop());
  const added = performance.now();
  await harness.startCompanion(['--cluster', LOGIN_DOOR.alias]);
  const notebooks = path.join(harness.dir, 'notebooks');
  mkdirSync(notebooks);
  const server = await JupyterServer.start(
    harness.env,
    notebooks,
    ['--ZMQChannelsWebsocketConnection.limit_rate=False'],
    {
      host: '127.0.0.1',
      socket: path.join(harness.dir, 'jupyter.sock'),
      launch: onLaptop
    }
  );
  cleanup.push(() => server.stop());
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
    kernel: { name: allocation.kernelspecs[0].name }
  });
  const channel = await server.connect(session.kernel.id);
  await channel.execute('print(1)');
  return {
    path: { name: 'ours (laptop companion, one ssh2 login)', channel },
    firstCellMs: performance.now() - added
  };
}

/**
 * The manual path from the laptop: jupyter server in a job, `ssh -N -J door -L` to it, the code
 * typed once (SSH_ASKPASS reads it from a 0600 file).
 */
async function manualPath(
  harness: Harness
): Promise<{ path: IPath; firstCellMs: number }> {
  const cluster = harness.clusterDir as string;
  const submitted = performance.now();
  const { token, port, node } = await startManualServer({
    dir: cluster,
    jobName: 'bench-manual-laptop',
    cleanup
  });

  // The laptop's ssh: the door as its jump host, the nodes' keys as the user keeps them.
  const config = harness.env.SLURM_KERNELS_SSH_CONFIG as string;
  const nodesKnown = path.join(harness.dir, 'manual_known_hosts');
  const hostKey = readFileSync('/etc/ssh/ssh_host_ed25519_key.pub', 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  writeFileSync(nodesKnown, `${node} ${hostKey}\n`, { mode: 0o600 });
  appendFileSync(
    config,
    [
      'Host node*',
      `    ProxyJump ${LOGIN_DOOR.alias}`,
      `    UserKnownHostsFile ${nodesKnown}`,
      '    GlobalKnownHostsFile /dev/null',
      ''
    ].join('\n')
  );
  const codeFile = path.join(harness.dir, 'code');
  writeFileSync(codeFile, `${totpCode()}\n`, { mode: 0o600 });
  const askpass = path.join(harness.dir, 'askpass');
  writeFileSync(askpass, `#!/bin/sh\ncat ${codeFile}\n`, { mode: 0o700 });
  const forwarded = path.join(harness.dir, 'manual.sock');
  const ssh: ChildProcess = onLaptop(
    [
      '/usr/bin/ssh',
      '-F',
      config,
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `${forwarded}:127.0.0.1:${port}`,
      node
    ],
    { ...harness.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }
  );
  cleanup.push(async () => {
    ssh.kill('SIGTERM');
  });
  const auth = { Authorization: `token ${token}` };
  await waitFor(
    'the manual server through ssh -L',
    () =>
      requestJson(forwarded, 'GET', '/api', undefined, auth).then(
        r => r.status === 200,
        () => false
      ),
    60_000,
    100
  );
  const kernel = (
    await requestJson(
      forwarded,
      'POST',
      '/api/kernels',
      { name: 'python3' },
      auth
    )
  ).body as { id: string };
  const ws = new WebSocket(
    `ws+unix://${forwarded}:/api/kernels/${kernel.id}/channels?session_id=${randomBytes(8).toString('hex')}`,
    [KERNEL_WS_PROTOCOL],
    { headers: auth, maxPayload: 0 }
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const channel = new KernelChannel(ws);
  await channel.execute('print(1)');
  return {
    path: { name: 'manual (jupyter server + ssh -J -L)', channel },
    firstCellMs: performance.now() - submitted
  };
}

async function main(): Promise<void> {
  const harness = new Harness({ laptop: true });
  cleanup.push(() => harness.stop());
  cleanup.push(() => harness.cancelEverything());
  writeFileSync(path.join(harness.dir, 'laptop_known_hosts'), '');
  harness.env.SLURM_KERNELS_SSH_CONFIG = writeLoginDoorConfig(
    harness.dir,
    path.join(harness.dir, 'laptop_known_hosts')
  );
  say('our path from the laptop (cluster added to first cell)');
  const ours = await ourPath(harness);
  say('the manual path from the laptop');
  const manual = await manualPath(harness);
  const paths = [ours.path, manual.path];
  say('round trips and bulk output, interleaved');
  const rt = await roundTrips(paths);
  const bulkOne = await bulk(paths, BULK_CELL);
  const bulkFlush = await bulk(paths, BULK_FLUSH_CELL);
  paths.forEach(p => p.channel.close());
  const out = [
    `## From a laptop (${new Date().toISOString()}, N=${N}, warm-up ${WARMUP}, interleaved)`,
    '',
    ...roundTripTable(paths, rt),
    '',
    ...bulkTable(paths, bulkOne, bulkFlush),
    '',
    `Cluster added (companion started) → first cell result, the code answered at once: ${(ours.firstCellMs / 1000).toFixed(2)} s; ` +
      `manual, sbatch → first cell result (no typing counted): ${(manual.firstCellMs / 1000).toFixed(2)} s`,
    ''
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

runBench(main, cleanup);
