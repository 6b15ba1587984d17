/**
 * Nothing held while the laptop is gone: its companion killed and the laptop off the network
 * (dev/testbed/laptop.sh), nobody can cancel the job, so the job's own dead-man's switch ends it
 * once its time has passed and no kernel is busy; back on the network, the laptop's next companion
 * logs in again and tells the user why the job ended.
 */
import path from 'node:path';
import { requestJson } from '../unit/http/request';
import { Harness } from './harness';
import { expectEndedByDeadMan } from './outage';
import { prepareLaptopLogin } from './setup';
import {
  cancelLeftoverJobs,
  injectFault,
  LaptopPerson,
  LOGIN_DOOR,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();
const harness = new Harness({ laptop: true });
const person = new LaptopPerson(harness.socket);

beforeAll(async () => {
  prepareLaptopLogin(harness);
  harness.env.SLURM_KERNELS_DEAD_MAN_S = '15';
  person.start();
  await harness.startCompanion(['--cluster', LOGIN_DOOR.alias]);
});

afterAll(async () => {
  await injectFault('laptop', 'up').catch(() => undefined);
  person.stop();
  await harness.stop();
  await cancelLeftoverJobs();
});

it("ends the job of a laptop gone (companion killed, network down) by its dead-man's switch, and says so on return", async () => {
  const allocation = await harness.requestCpu(10);
  const jobId = allocation.jobId as string;
  const { body: about } = await requestJson(harness.socket, 'GET', '/api');
  process.kill(about.pid as number, 'SIGKILL');
  await injectFault('laptop', 'down');
  // The job's log is on the cluster (the laptop's companion wrote its files there over SFTP).
  await expectEndedByDeadMan(
    jobId,
    path.join(harness.allocationDir(allocation.id), 'job.log'),
    15
  );

  await injectFault('laptop', 'up');
  const codes = person.asked.filter(q => q.kind === 'prompts').length;
  await harness.startCompanion(['--cluster', LOGIN_DOOR.alias]);
  const ended = await waitFor(
    'the next companion to report how the job ended',
    async () => {
      // Until the new companion listens, its socket refuses.
      const { status, body } = await requestJson(
        harness.socket,
        'GET',
        '/api/allocations'
      ).catch(() => ({ status: 0, body: undefined }));
      const found = status === 200 ? body.allocations?.[0] : undefined;
      return found?.state === 'ended' ? found : undefined;
    },
    60_000,
    500
  );
  expect(ended).toMatchObject({
    id: allocation.id,
    outcome: {
      state: 'FAILED',
      message: expect.stringContaining("its dead-man's switch")
    }
  });
  expect(person.asked.filter(q => q.kind === 'prompts')).toHaveLength(
    codes + 1
  );
});
