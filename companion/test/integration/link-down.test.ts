/**
 * Fault: the link to the job's node goes down mid-cell (`ip link set down` inside the node's
 * namespace, through dev/testbed/fault.sh), for 10 s and for 2 minutes. The kernel keeps running
 * there and is never reported dead; the lab shows "node unreachable" while its websocket cannot be
 * reopened; tunnel and websocket come back with backoff, and the cell's output arrives in order.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Allocation } from '../../../src/api/allocation';
import type { KernelChannel } from './jupyter';
import { useLabSide } from './setup';
import {
  cancelLeftoverJobs,
  injectFault,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(300_000);
requireTestUser();

const lab = useLabSide();
let allocation: Allocation;
let channel: KernelChannel;
let sessionId: string;

beforeAll(async () => {
  allocation = await lab.harness.requestGpu();
  const session = await lab.server.json('POST', '/api/sessions', {
    path: 'link.ipynb',
    name: 'link.ipynb',
    type: 'notebook',
    kernel: { name: `slurm-${allocation.jobId}-python3` }
  });
  sessionId = session.id;
  channel = await lab.server.connect(session.kernel.id);
  await channel.execute('x = 0');
});

afterAll(async () => {
  const node = allocation?.node ?? 'node1';
  await injectFault('link', node, 'up').catch(() => undefined);
  // Should Slurm have declared the node failed meanwhile, it serves the next tests again.
  if (!/^(idle|mixed|allocated)/.test(await nodeState(node))) {
    await injectFault('node', node, 'resume').catch(() => undefined);
  }
  channel?.close();
  await lab.server
    .request('DELETE', `/api/sessions/${sessionId}`)
    .catch(() => undefined);
  await cancelLeftoverJobs();
});

async function nodeState(node: string): Promise<string> {
  const { stdout } = await promisify(execFile)('sinfo', [
    '-h',
    '-N',
    '-n',
    node,
    '-o',
    '%T'
  ]);
  return stdout.trim();
}

/** A cell printing `tick 0` … every `everyS` seconds, then counting itself in x. */
const ticking = (count: number, everyS: number) =>
  [
    'import time',
    `for i in range(${count}):`,
    "    print('tick', i, flush=True)",
    `    time.sleep(${everyS})`,
    'x += 1'
  ].join('\n');

const ticksOf = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map(line => Number(/^tick (\d+)$/.exec(line)?.[1] ?? NaN));

it('rides out a 10 s outage: every tick once, in order, the kernel and its state kept', async () => {
  const running = channel.execute(ticking(20, 1), { timeoutMs: 90_000 });
  await new Promise(resolve => setTimeout(resolve, 2_000));
  await injectFault('link', allocation.node as string, 'down');
  await new Promise(resolve => setTimeout(resolve, 10_000));
  await injectFault('link', allocation.node as string, 'up');
  const done = await running;
  expect(done.reply.status).toBe('ok');
  expect(ticksOf(done.stdout)).toEqual([...Array(20).keys()]);
  expect((await channel.execute('print(x)')).stdout).toBe('1\n');
});

it('rides out 2 minutes: "node unreachable" meanwhile, never dead, then the output in order and the state kept', async () => {
  const kernelState = async () =>
    (await lab.server.json('GET', '/api/kernels'))[0]?.execution_state;
  const running = channel.execute(ticking(90, 2), { timeoutMs: 280_000 });
  await new Promise(resolve => setTimeout(resolve, 4_000));
  await injectFault('link', allocation.node as string, 'down');
  const downAt = Date.now();
  const unreachable = await waitFor(
    'the lab to say the node does not answer',
    async () => {
      const [a] = await lab.harness.list();
      return a?.problem?.kind === 'node_unreachable' ? a : undefined;
    },
    110_000,
    1_000
  );
  expect(unreachable).toMatchObject({ state: 'ready', outcome: null });
  expect(unreachable.problem?.message).toContain(allocation.node as string);
  expect(await kernelState()).not.toBe('dead');
  await new Promise(resolve =>
    setTimeout(resolve, Math.max(0, downAt + 120_000 - Date.now()))
  );
  await injectFault('link', allocation.node as string, 'up');
  await waitFor(
    'the problem cleared',
    async () => !(await lab.harness.list())[0]?.problem,
    60_000,
    1_000
  );
  const done = await running;
  expect(done.reply.status).toBe('ok');
  const ticks = ticksOf(done.stdout);
  // Every tick once, in order, through to the end, with at most one gap: what the gateway wrote into
  // the dead link before its websocket ping timed out (30 s, plus a ping interval, and the output
  // the link still took) is lost with that connection; from then on the gateway buffered and
  // replayed. (See the closing note: a relay on the node could close that gap too.)
  const gaps = ticks.filter((t, i) => i > 0 && t !== ticks[i - 1] + 1);
  expect(ticks[0]).toBe(0);
  expect(ticks[ticks.length - 1]).toBe(89);
  expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
  expect(gaps.length).toBeLessThanOrEqual(1);
  expect(90 - ticks.length).toBeLessThanOrEqual(25); // 50 s of output at most
  expect((await channel.execute('print(x)')).stdout).toBe('2\n');
  const [a] = await lab.harness.list();
  expect(a).toMatchObject({ id: allocation.id, state: 'ready', problem: null });
});
