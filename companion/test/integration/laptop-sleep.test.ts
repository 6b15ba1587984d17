/**
 * A lab on the testbed's laptop (dev/testbed/laptop.sh: its network reaches the login node's sshd
 * only, its home is its own), whose companion drives the cluster through the login node's key +
 * TOTP door. The laptop sleeps for 2 minutes mid-cell (its link down): the lab says "cluster
 * unreachable" meanwhile, never that the kernel died; on waking the login is rebuilt by itself,
 * asking for one code, the kernel reconnects, and the cell's output arrives in order with the
 * kernel's state kept.
 */
import type { Allocation } from '../../../src/api/allocation';
import { requestJson } from '../unit/http/request';
import type { KernelChannel } from './jupyter';
import { expectTicksInOrder, rideOut, ticking } from './outage';
import { notebookOn, useLaptopLab } from './setup';
import {
  injectFault,
  LaptopPerson,
  laptopReaches,
  LOGIN_DOOR,
  requireTestUser
} from './testbed';

jest.setTimeout(360_000);
requireTestUser();

const lab = useLaptopLab();
let person: LaptopPerson;
let allocation: Allocation;
let channel: KernelChannel;
let sessionId: string;

beforeAll(async () => {
  person = new LaptopPerson(lab.harness.socket);
  person.start();
  allocation = await lab.harness.requestCpu(15);
  const notebook = await notebookOn(lab, allocation, 'sleep');
  sessionId = notebook.session.id;
  channel = notebook.channel;
});

afterAll(async () => {
  await injectFault('laptop', 'up').catch(() => undefined);
  channel?.close();
  await lab.server
    ?.request('DELETE', `/api/sessions/${sessionId}`)
    .catch(() => undefined);
  person?.stop();
});

it("reaches the login node's sshd and nothing else of the cluster", async () => {
  expect(await laptopReaches(LOGIN_DOOR.address, LOGIN_DOOR.port)).toBe(true);
  expect(await laptopReaches(allocation.node as string, 22)).toBe(false);
  expect(await laptopReaches('10.77.0.1', 6817)).toBe(false); // slurmctld
  // The kernel came from the node all the same: through the one login.
  expect(
    (await channel.execute('import socket; print(socket.gethostname())')).stdout
  ).toBe(`${allocation.node}\n`);
});

it('sleeps 2 minutes mid-cell: "cluster unreachable" meanwhile, never dead; on waking one code, then the output in order and the state kept', async () => {
  const codesBefore = person.asked.filter(q => q.kind === 'prompts').length;
  const running = channel.execute(ticking(90, 2), { timeoutMs: 330_000 });
  await new Promise(resolve => setTimeout(resolve, 4_000));
  await rideOut(lab, {
    down: () => injectFault('laptop', 'down'),
    up: () => injectFault('laptop', 'up'),
    problem: 'cluster_unreachable',
    mentions: LOGIN_DOOR.alias,
    // What needs the cluster says so at once meanwhile, not after a timeout.
    meanwhile: async () => {
      const asked = Date.now();
      const cluster = await requestJson(
        lab.harness.socket,
        'GET',
        '/api/cluster?refresh=1'
      );
      expect(cluster.status).toBeGreaterThanOrEqual(500);
      expect(Date.now() - asked).toBeLessThan(10_000);
    }
  });
  const done = await running;
  expect(done.reply.status).toBe('ok');
  expectTicksInOrder(done.stdout, 90);
  expect((await channel.execute('print(x)')).stdout).toBe('2\n');
  // One code on waking, none for the kernel or the commands.
  expect(person.asked.filter(q => q.kind === 'prompts')).toHaveLength(
    codesBefore + 1
  );
  const [a] = await lab.harness.list();
  expect(a).toMatchObject({ id: allocation.id, state: 'ready', problem: null });
  await lab.harness.cli(['cancel', allocation.id]);
});
