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
import { expectTicksInOrder, rideOut, ticking, ticksOf } from './outage';
import { notebookOn, useLabSide } from './setup';
import { cancelLeftoverJobs, injectFault, requireTestUser } from './testbed';

jest.setTimeout(300_000);
requireTestUser();

const lab = useLabSide();
let allocation: Allocation;
let channel: KernelChannel;
let sessionId: string;

beforeAll(async () => {
  allocation = await lab.harness.requestGpu();
  const notebook = await notebookOn(lab, allocation, 'link');
  sessionId = notebook.session.id;
  channel = notebook.channel;
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

it('rides out a 10 s outage: every tick once, in order, the kernel and its state kept', async () => {
  const running = channel.execute(ticking(20, 1), { timeoutMs: 90_000 });
  await new Promise(resolve => setTimeout(resolve, 2_000));
  await injectFault('link', allocation.node as string, 'down');
  await new Promise(resolve => setTimeout(resolve, 10_000));
  await injectFault('link', allocation.node as string, 'up');
  const done = await running;
  expect(done.reply.status).toBe('ok');
  expect(ticksOf(done.stdout)).toEqual([...Array(20).keys()]);
  expect((await channel.execute('print(x)')).stdout).toBe('2\n');
});

it('rides out 2 minutes: "node unreachable" meanwhile, never dead, then the output in order and the state kept', async () => {
  const node = allocation.node as string;
  const running = channel.execute(ticking(90, 2), { timeoutMs: 280_000 });
  await new Promise(resolve => setTimeout(resolve, 4_000));
  await rideOut(lab, {
    down: () => injectFault('link', node, 'down'),
    up: () => injectFault('link', node, 'up'),
    problem: 'node_unreachable',
    mentions: node
  });
  const done = await running;
  expect(done.reply.status).toBe('ok');
  expectTicksInOrder(done.stdout, 90);
  expect((await channel.execute('print(x)')).stdout).toBe('3\n');
  const [a] = await lab.harness.list();
  expect(a).toMatchObject({ id: allocation.id, state: 'ready', problem: null });
});
