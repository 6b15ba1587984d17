/**
 * The second day, from a laptop: yesterday's lab ran on the login node, its companion made an
 * allocation and is gone; today the lab runs on the laptop. Both keep the cluster's state in the
 * same place (the cluster's ~/.local/state/slurm-kernels; here a directory of the test's own), so
 * the laptop's companion lists that allocation, publishes its kernels on the laptop, starts one
 * on the node, and cancels it.
 */
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { Harness, isRunning } from './harness';
import { hostnameOfKernel, useLaptopLab } from './setup';
import {
  cancelLeftoverJobs,
  LaptopPerson,
  liveJobsOfOurs,
  LOGIN_DOOR,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(180_000);
requireTestUser();

// Yesterday: a companion on the login node (this host's namespace reaches Slurm as one does).
const yesterday = new Harness();
let allocation: Allocation;

beforeAll(async () => {
  await yesterday.startCompanion();
  allocation = await yesterday.requestCpu(15);
  const pid = yesterday.companionPid as number;
  process.kill(pid, 'SIGTERM');
  await waitFor("yesterday's companion to stop", async () => !isRunning(pid));
});

const lab = useLaptopLab(harness => {
  harness.env.SLURM_KERNELS_CLUSTER_STATE_DIR = path.join(
    yesterday.env.XDG_STATE_HOME as string,
    'slurm-kernels'
  );
});
let person: LaptopPerson;

beforeAll(() => {
  person = new LaptopPerson(lab.harness.socket);
  person.start();
});

afterAll(async () => {
  person?.stop();
  await cancelLeftoverJobs();
  await yesterday.stop();
});

it("lists the allocation the login node's companion made, runs a kernel on it from the laptop, and cancels it", async () => {
  const adopted = await waitFor(
    'the allocation, ready, on the laptop',
    async () =>
      (await lab.harness.list()).find(
        a => a.id === allocation.id && a.state === 'ready'
      ),
    60_000,
    500
  );
  expect(adopted).toMatchObject({
    jobId: allocation.jobId,
    node: allocation.node
  });
  expect(lab.harness.kernelspecNames()).toContain(
    `slurm-${LOGIN_DOOR.alias}-${allocation.jobId}-python3`
  );
  const { session, hostname } = await hostnameOfKernel(lab, adopted, 'day2');
  expect(hostname).toBe(allocation.node);
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', allocation.id]);
  await waitFor(
    'the job gone from Slurm',
    async () => !(await liveJobsOfOurs()).includes(allocation.jobId as string),
    30_000,
    500
  );
});
