/**
 * From a request to a GPU kernel in Jupyter's kernel picker, on the real testbed, as the test user:
 * real Slurm, a real Kernel Gateway on the compute node, real ssh (ssh2 to the node's sshd), and a
 * real Jupyter Server driven the way JupyterLab drives it (REST + v1 websocket). The same suite
 * runs through the srun relay (remote-kernel-srun.test.ts, SLURM_KERNELS_NODE_TRANSPORT=srun).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { listJobs, LocalRunner } from '../../src/slurm';
import { Harness } from './harness';
import { JupyterServer, KernelChannel } from './jupyter';
import { dropNodeConnections, requireTestUser, waitFor } from './testbed';

jest.setTimeout(180_000);

requireTestUser();
const harness = new Harness();
const runner = new LocalRunner();
let server: JupyterServer;
let allocation: Allocation;
let specName: string;
const sessions: string[] = [];
/** The transport this run of the suite goes through. */
const transport =
  process.env.SLURM_KERNELS_NODE_TRANSPORT === 'srun' ? 'srun' : 'ssh';

/** Starts a notebook session on a kernelspec, as JupyterLab does when a notebook opens. */
async function startSession(
  kernelName: string,
  name: string
): Promise<{ sessionId: string; kernelId: string }> {
  const session = await server.json('POST', '/api/sessions', {
    path: `${name}.ipynb`,
    name: `${name}.ipynb`,
    type: 'notebook',
    kernel: { name: kernelName }
  });
  sessions.push(session.id);
  return { sessionId: session.id, kernelId: session.kernel.id };
}

/** Runs `use` on a fresh notebook session's kernel, connected as JupyterLab connects. */
async function inKernel<T>(
  kernelName: string,
  name: string,
  use: (channel: KernelChannel, kernelId: string) => Promise<T>
): Promise<T> {
  const { kernelId } = await startSession(kernelName, name);
  const channel = await server.connect(kernelId);
  try {
    return await use(channel, kernelId);
  } finally {
    channel.close();
  }
}

/** bytes_acked of each TCP connection in `ss -ti` output, smallest first. */
function bytesSentPerConnection(ssOutput: string): number[] {
  const infoLines = ssOutput.split('\n').filter(l => /\brtt:/.test(l));
  return infoLines
    .map(l => Number(/\bbytes_acked:(\d+)/.exec(l)?.[1] ?? 0))
    .sort((a, b) => a - b);
}

/** Within the local server's IOPub rate limit. */
const HEARD_ONCE_SIZE = 2_000_000;
/** An output that shows whether a watcher still hears everything. */
const PROBE_SIZE = 100_000;

/**
 * Bytes sent on each IOPub connection, smallest first: on the node, the kernel's (to the gateway's
 * websocket and its activity watcher); here, the bridge's (to the local server's websocket and its
 * activity watcher).
 */
async function iopubBytesSent(
  channel: KernelChannel,
  kernelId: string
): Promise<{ remote: number[]; local: number[] }> {
  // TCP info (bytes_acked) of the established connections from the IOPub port, on either machine.
  const [ssFile, ...ssArgs] = ['ss', '-tinH', 'state', 'established'];
  const { stdout } = await channel.execute(
    [
      'import json, subprocess',
      'from ipykernel.connect import get_connection_file',
      "port = json.load(open(get_connection_file()))['iopub_port']",
      `print(subprocess.run([*${JSON.stringify([ssFile, ...ssArgs])}, f'( sport = :{port} )'], capture_output=True, text=True).stdout)`
    ].join('\n')
  );
  const connection = JSON.parse(
    readFileSync(
      path.join(
        harness.env.JUPYTER_RUNTIME_DIR as string,
        `kernel-${kernelId}.json`
      ),
      'utf8'
    )
  );
  const local = await execText(ssFile, [
    ...ssArgs,
    `( sport = :${connection.iopub_port} )`
  ]);
  return {
    remote: bytesSentPerConnection(stdout),
    local: bytesSentPerConnection(local)
  };
}

async function execText(file: string, args: string[]): Promise<string> {
  return (await promisify(execFile)(file, args)).stdout;
}

async function whereAmI(channel: KernelChannel): Promise<string[]> {
  const { stdout, reply } = await channel.execute(
    "import os, socket; print(socket.gethostname(), os.environ.get('SLURM_JOB_ID'), os.environ.get('CUDA_VISIBLE_DEVICES'))"
  );
  expect(reply.status).toBe('ok');
  return stdout.trim().split(' ');
}

beforeAll(async () => {
  await harness.startCompanion();
  const notebooks = path.join(harness.dir, 'notebooks');
  mkdirSync(notebooks);
  server = await JupyterServer.start(harness.env, notebooks);
  allocation = await harness.requestGpu();
  specName = `slurm-${allocation.jobId}-python3`;
});

afterAll(async () => {
  for (const id of sessions) {
    await server
      ?.request('DELETE', `/api/sessions/${id}`)
      .catch(() => undefined);
  }
  await harness.cancelAll();
  await server?.stop();
  await harness.stop();
});

describe('a GPU kernel on the testbed', () => {
  it('is published as a kernelspec that Jupyter Server lists, named after node, GPUs and job', async () => {
    expect(allocation.state).toBe('ready');
    expect(allocation.node).toMatch(/^node\d$/);
    expect(allocation.transport).toEqual({ kind: transport, note: null });
    expect(allocation.kernelspecs.map(k => k.name)).toContain(specName);
    const { kernelspecs } = await server.json('GET', '/api/kernelspecs');
    expect(kernelspecs[specName].spec.display_name).toBe(
      `Python 3 (ipykernel) · ${allocation.node} · 1× GPU · job ${allocation.jobId}`
    );
    expect(kernelspecs[specName].spec.interrupt_mode).toBe('message');
    expect(Object.keys(kernelspecs[specName].resources)).toEqual(
      expect.arrayContaining(['logo-64x64'])
    );
  });

  it('runs cells on the compute node, inside the job, with the GPU Slurm gave it', async () => {
    await inKernel(specName, 'gpu', async channel => {
      const [host, jobId, gpus] = await whereAmI(channel);
      expect(host).toBe(allocation.node);
      expect(jobId).toBe(allocation.jobId);
      expect(gpus).toMatch(/^[01]$/);

      await channel.execute('answer = 6 * 7');
      const { stdout } = await channel.execute('print(answer)');
      expect(stdout).toBe('42\n');
    });
  });

  it('answers input() through the stdin channel', async () => {
    await inKernel(specName, 'stdin', async channel => {
      const { stdout, messages } = await channel.execute(
        "name = input('who? '); print('hello', name)",
        {
          input: ['slurm']
        }
      );
      expect(
        messages.some(
          m => m.msgType === 'input_request' && m.content.prompt === 'who? '
        )
      ).toBe(true);
      expect(stdout).toContain('hello slurm');
    });
  });

  it('keeps binary buffers intact both ways (a comm, as widgets use)', async () => {
    await inKernel(specName, 'buffers', async channel => {
      const payload = Buffer.from(
        Array.from({ length: 1024 }, (_, i) => i % 256)
      );
      const { messages } = await channel.execute(
        [
          'from ipykernel.comm import Comm',
          "comm = Comm(target_name='echo', data={'n': 1024}, buffers=[bytes(i % 256 for i in range(1024))])"
        ].join('\n')
      );
      const open = messages.find(m => m.msgType === 'comm_open');
      expect(open?.buffers).toHaveLength(1);
      expect(Buffer.compare(open!.buffers[0], payload)).toBe(0);
    });
  });

  it('passes large outputs and buffers intact (both servers write them without copies)', async () => {
    await inKernel(specName, 'large', async channel => {
      // Large frames of an odd length, within the local server's IOPub data rate limit (3 MB in 3 s).
      const size = 1048576 + 7;
      const { stdout, messages } = await channel.execute(
        [
          'import sys',
          'from comm import create_comm',
          `sys.stdout.write(''.join(chr(97 + i % 26) for i in range(${size}))); sys.stdout.flush()`,
          `comm = create_comm(target_name='echo', buffers=[bytes(i % 251 for i in range(${size}))])`
        ].join('\n'),
        { timeoutMs: 60_000 }
      );
      const letters = Array.from({ length: 26 }, (_, i) =>
        String.fromCharCode(97 + i)
      ).join('');
      expect(stdout).toBe(letters.repeat(Math.ceil(size / 26)).slice(0, size));
      const open = messages.find(m => m.msgType === 'comm_open');
      const expected = Buffer.from(
        Array.from({ length: size }, (_, i) => i % 251)
      );
      expect(open?.buffers).toHaveLength(1);
      expect(Buffer.compare(open!.buffers[0], expected)).toBe(0);
    });
  });

  it('carries each output once to each server: their activity watchers hear only status messages, after a restart too', async () => {
    const { kernelId } = await startSession(specName, 'heard-once');
    const state = async () =>
      (await server.json('GET', `/api/kernels/${kernelId}`)).execution_state;
    for (const round of ['started', 'restarted']) {
      const channel = await server.connect(kernelId);
      try {
        // Each watcher narrows once it has seen a status message, and its narrowed subscription
        // reaches the publisher a moment later (ZMQ applies SUBSCRIBE/UNSUBSCRIBE asynchronously):
        // small outputs go out until neither watcher hears them any more.
        await waitFor(
          `both watchers narrowed (${round})`,
          async () => {
            const before = await iopubBytesSent(channel, kernelId);
            await channel.execute(`print('y' * ${PROBE_SIZE})`);
            const after = await iopubBytesSent(channel, kernelId);
            return [
              [before.remote, after.remote],
              [before.local, after.local]
            ].every(
              ([b, a]) =>
                a.length === 2 && b.length === 2 && a[0] - b[0] < PROBE_SIZE / 2
            );
          },
          20_000,
          100
        );
        const before = await iopubBytesSent(channel, kernelId);
        await channel.execute(`print('x' * ${HEARD_ONCE_SIZE})`, {
          timeoutMs: 60_000
        });
        const sent = await iopubBytesSent(channel, kernelId);
        for (const [b, a] of [
          [before.remote, sent.remote],
          [before.local, sent.local]
        ]) {
          expect({ round, side: a.length }).toEqual({ round, side: 2 });
          expect(a[1] - b[1]).toBeGreaterThan(HEARD_ONCE_SIZE);
          expect(a[0] - b[0]).toBeLessThan(HEARD_ONCE_SIZE / 10);
        }
        // The local server still follows the kernel's state from its status messages.
        const sleeping = channel.execute('import time; time.sleep(2)');
        await waitFor(
          'busy',
          async () => (await state()) === 'busy',
          2_000,
          50
        );
        await sleeping;
        await waitFor(
          'idle',
          async () => (await state()) === 'idle',
          2_000,
          50
        );
      } finally {
        channel.close();
      }
      if (round === 'started') {
        const res = await server.request(
          'POST',
          `/api/kernels/${kernelId}/restart`
        );
        expect(res.status).toBe(200);
      }
    }
  });

  it(`survives a dropped connection to the node (${transport}): same kernel, same variables, output of the gap delivered`, async () => {
    await inKernel(specName, 'dropped', async channel => {
      await channel.execute('x = 41');
      const running = channel.execute(
        'import time; time.sleep(1.5); x += 1; print(x)',
        { timeoutMs: 60_000 }
      );
      await new Promise(resolve => setTimeout(resolve, 500));
      expect(
        await dropNodeConnections(harness.companionPid as number)
      ).toBeGreaterThan(0);
      expect((await running).stdout).toBe('42\n');
      expect((await channel.execute('print(x)')).stdout).toBe('42\n');
    });
  });

  it('interrupts time.sleep(60) within 2 s', async () => {
    await inKernel(specName, 'interrupt', async (channel, kernelId) => {
      let interruptedAt = 0;
      const running = channel.execute('import time; time.sleep(60)', {
        timeoutMs: 20_000
      });
      await new Promise(resolve => setTimeout(resolve, 1000));
      interruptedAt = Date.now();
      const res = await server.request(
        'POST',
        `/api/kernels/${kernelId}/interrupt`
      );
      expect(res.status).toBe(204);
      const { reply } = await running;
      expect(reply.status).toBe('error');
      expect(reply.ename).toBe('KeyboardInterrupt');
      expect(Date.now() - interruptedAt).toBeLessThan(2000);
    });
  });

  it('restarts into a fresh namespace on the same node', async () => {
    const { kernelId } = await startSession(specName, 'restart');
    let channel = await server.connect(kernelId);
    await channel.execute('before_restart = 1');
    channel.close();
    const res = await server.request(
      'POST',
      `/api/kernels/${kernelId}/restart`
    );
    expect(res.status).toBe(200);
    channel = await server.connect(kernelId);
    try {
      const { stdout } = await channel.execute(
        "print('before_restart' in globals())"
      );
      expect(stdout).toBe('False\n');
      const [host] = await whereAmI(channel);
      expect(host).toBe(allocation.node);
    } finally {
      channel.close();
    }
  });

  it('runs two kernels side by side in one allocation', async () => {
    const a = await startSession(specName, 'two-a');
    const b = await startSession(specName, 'two-b');
    expect(a.kernelId).not.toBe(b.kernelId);
    const [ca, cb] = await Promise.all([
      server.connect(a.kernelId),
      server.connect(b.kernelId)
    ]);
    try {
      await ca.execute("who = 'a'");
      await cb.execute("who = 'b'");
      expect((await ca.execute('print(who)')).stdout).toBe('a\n');
      expect((await cb.execute('print(who)')).stdout).toBe('b\n');
      const [wa, wb] = await Promise.all([whereAmI(ca), whereAmI(cb)]);
      expect(wa.slice(0, 2)).toEqual([allocation.node, allocation.jobId]);
      expect(wb.slice(0, 2)).toEqual([allocation.node, allocation.jobId]);
    } finally {
      ca.close();
      cb.close();
    }
  });

  it('switches a notebook session from a local kernel to the remote one and back', async () => {
    const local = await startSession('python3', 'switch');
    const asLocal = await server.connect(local.kernelId);
    const [localHost] = await whereAmI(asLocal);
    asLocal.close();
    expect(localHost).not.toMatch(/^node\d$/);

    const toRemote = await server.json(
      'PATCH',
      `/api/sessions/${local.sessionId}`,
      { kernel: { name: specName } }
    );
    expect(toRemote.id).toBe(local.sessionId);
    const asRemote = await server.connect(toRemote.kernel.id);
    expect((await whereAmI(asRemote))[0]).toBe(allocation.node);
    asRemote.close();

    const back = await server.json(
      'PATCH',
      `/api/sessions/${local.sessionId}`,
      { kernel: { name: 'python3' } }
    );
    const again = await server.connect(back.kernel.id);
    expect((await whereAmI(again))[0]).toBe(localHost);
    again.close();
  });

  it('shows a job on a full partition as pending for Resources, and cancels it', async () => {
    // The testbed has 2 nodes × 2 GPUs; one is ours. gpu:2 fits only on the other node; a second gpu:2 cannot.
    const gpu2 = ['-p', 'gpu', '--gres', 'gpu:2', '-t', '10'];
    const filler = await harness.request(gpu2);
    const third = await harness.request(gpu2);
    const pending = await waitFor('the pending reason', async () => {
      const mine = (await harness.list()).find(a => a.id === third.id);
      return mine?.state === 'pending' &&
        mine.pendingReason?.code === 'Resources'
        ? mine
        : undefined;
    });
    expect(pending.pendingReason?.text).toMatch(/in use by other jobs/);

    const cancelled = await harness.cli(['cancel', third.id]);
    expect(cancelled.code).toBe(0);
    await harness.cli(['cancel', filler.id]);
    await waitFor('the pending job to leave the queue', async () => {
      const jobs = await listJobs(runner, { jobIds: [third.jobId as string] });
      return jobs.every(j => !/PENDING|RUNNING/.test(j.state));
    });
  });

  it('on cancel: the kernel says why at the next cell, the kernelspec goes, the job leaves Slurm', async () => {
    const { kernelId } = await startSession(specName, 'cancel');
    const channel = await server.connect(kernelId);
    await channel.execute('pass');

    const cancelled = await harness.cli(['cancel', allocation.id]);
    expect(cancelled.code).toBe(0);
    await waitFor('the kernelspec to disappear', async () => {
      const { kernelspecs } = await server.json('GET', '/api/kernelspecs');
      return !(specName in kernelspecs);
    });
    expect(harness.kernelspecNames()).not.toContain(specName);
    // The notebook's kernel stays, retired: a cell gets why, and Jupyter restarts nothing.
    const after = await waitFor('the kernel retired', async () => {
      const result = await channel.execute('pass');
      return result.reply.status === 'error' ? result.reply : undefined;
    });
    channel.close();
    expect(after).toMatchObject({ ename: 'AllocationEnded' });
    expect(after.evalue).toMatch(
      /^Allocation \S+ \(job \d+ on node\d\) has ended: .*relaunch it from the GPU kernel panel/
    );
    expect(server.output).not.toMatch(/KernelRestarter: restarting/i);
    await waitFor('the job to leave the queue', async () => {
      const jobs = await listJobs(runner, {
        jobIds: [allocation.jobId as string]
      });
      return jobs.every(j => !/PENDING|RUNNING|COMPLETING/.test(j.state));
    });
    // Slurm gives its final word once the job's processes are gone (KillWait).
    const ended = await waitFor('the allocation to end', async () => {
      const mine = (await harness.list()).find(a => a.id === allocation.id);
      return mine?.state === 'ended' ? mine : undefined;
    });
    expect(ended?.state).toBe('ended');
    expect(ended?.outcome?.state).toBe('CANCELLED');
  });
});
