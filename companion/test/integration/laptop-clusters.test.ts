/**
 * Two clusters in one lab on the testbed's laptop, over two days. The companion starts with no
 * cluster of its own (the laptop has Slurm's commands but no Slurm configuration) and one cluster
 * an earlier lab saved (`behind`: the second login node through the door as a jump host, its
 * records in a place of its own on the cluster); the person adds the door itself by its alias
 * through the API, as the panel's "Add a cluster…" does. Each cluster logs in once, has its own
 * allocation, lists only its own, and offers its kernels to the lab's one Jupyter Server under
 * names that cannot collide; a cell in each says where it runs. Its companion stopped and started
 * again (the next day's lab): each saved cluster asks for its code once more, and both allocations are there, ready. The CLI
 * beside the lab sees both clusters. A cluster with an allocation not over cannot be taken out.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Allocation } from '../../../src/api/allocation';
import type { ClusterSummary } from '../../../src/api/clusters';
import { requestJson } from '../unit/http/request';
import { Harness, isRunning } from './harness';
import {
  notebookOn,
  prepareLaptopLogin,
  pythonKernelspec,
  useLabSide
} from './setup';
import {
  BEHIND_THE_DOOR,
  cancelLeftoverJobs,
  LAPTOP,
  LaptopPerson,
  LOGIN_DOOR,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const BEHIND = 'behind';
const DOOR = LOGIN_DOOR.alias;

/** Yesterday's lab saved `behind`, with its records apart from the door's on the shared home. */
function savedByYesterday(harness: Harness): void {
  prepareLaptopLogin(harness);
  const file = path.join(
    harness.env.XDG_CONFIG_HOME as string,
    'slurm-kernels',
    'clusters.json'
  );
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    JSON.stringify({
      clusters: [
        {
          name: BEHIND,
          alias: BEHIND_THE_DOOR.alias,
          stateDir: path.posix.join(harness.clusterDir as string, 'behind')
        }
      ]
    }),
    { mode: 0o600 }
  );
}

const lab = useLabSide(savedByYesterday, [], { laptop: true });
let person: LaptopPerson;

beforeAll(() => {
  person = new LaptopPerson(lab.harness.socket, [BEHIND, DOOR]);
  person.start();
});

afterAll(async () => {
  person?.stop();
  await cancelLeftoverJobs();
});

/** Whether argv succeeds on the testbed's laptop. */
async function onTheLaptop(argv: string[]): Promise<boolean> {
  return promisify(execFile)('sudo', ['-n', LAPTOP, ...argv]).then(
    () => true,
    () => false
  );
}

const api = (method: string, url: string, body?: unknown) =>
  requestJson(lab.harness.socket, method, url, body);

/** A CPU allocation on one cluster of the lab, in its site's default preset, once ready. */
async function readyOn(cluster: string): Promise<Allocation> {
  const { body: presets } = await api(
    'GET',
    `/clusters/${cluster}/api/presets`
  );
  const submitted = await api('POST', `/clusters/${cluster}/api/allocations`, {
    partition: 'cpu',
    time: '10',
    environment: presets.presets[presets.default]
  });
  expect(submitted.status).toBe(201);
  return waitFor(
    `the allocation on ${cluster} to be ready`,
    async () => {
      const { body } = await api('GET', `/clusters/${cluster}/api/allocations`);
      const a = (body.allocations as Allocation[]).find(
        x => x.id === submitted.body.id
      );
      if (a?.state === 'failed' || a?.state === 'ended') {
        throw new Error(`${cluster}: ${a.outcome?.message ?? a.state}`);
      }
      return a?.state === 'ready' ? a : undefined;
    },
    120_000,
    500
  );
}

/** What a cell on the allocation's Python kernel prints of where it runs. */
async function whereItRuns(a: Allocation, name: string): Promise<string> {
  const { session, channel } = await notebookOn(lab, a, name);
  const { stdout } = await channel.execute(
    'import os, socket; print(socket.gethostname(), os.environ["SLURM_SUBMIT_HOST"])'
  );
  channel.close();
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  return stdout.trim();
}

it('drives two clusters in one lab: each logs in once, runs its own allocation, and offers its kernels under its name; the next day each asks its code once and its allocation is there', async () => {
  const listed = async () =>
    ((await api('GET', '/api/clusters')).body.clusters as ClusterSummary[]).map(
      c => [c.name, c.local, c.default]
    );
  // No Slurm of the laptop's own; the saved cluster is served (the default: the first).
  expect(await listed()).toEqual([[BEHIND, false, true]]);

  // A typo is refused with why, and nothing is saved.
  const typo = await api('POST', '/api/clusters', { alias: 'testbed-2af' });
  expect([typo.status, typo.body.field]).toEqual([422, 'alias']);
  expect(typo.body.message).toMatch(/testbed-2af: no host testbed-2af/);
  const added = await api('POST', '/api/clusters', { alias: DOOR });
  expect(added.status).toBe(201);
  expect(added.body).toMatchObject({ name: DOOR, alias: DOOR, local: false });
  expect(await listed()).toEqual([
    [BEHIND, false, true],
    [DOOR, false, false]
  ]);
  const saved = JSON.parse(
    readFileSync(
      path.join(
        lab.harness.env.XDG_CONFIG_HOME as string,
        'slurm-kernels',
        'clusters.json'
      ),
      'utf8'
    )
  );
  expect(saved.clusters.map((c: { name: string }) => c.name)).toEqual([
    BEHIND,
    DOOR
  ]);

  // The site's presets come from the cluster, over the login: the laptop has no such file.
  expect(
    await onTheLaptop(['test', '-e', '/etc/slurm-kernels/presets.json'])
  ).toBe(false);
  const presets = await api('GET', `/clusters/${DOOR}/api/presets`);
  expect(presets.body).toMatchObject({
    default: 'site-python',
    presets: { 'site-python': { venv: expect.stringMatching(/site-env$/) } }
  });

  const [onBehind, onDoor] = await Promise.all([
    readyOn(BEHIND),
    readyOn(DOOR)
  ]);
  // Each lists its own allocation only.
  for (const [cluster, mine] of [
    [BEHIND, onBehind],
    [DOOR, onDoor]
  ] as const) {
    const { body } = await api('GET', `/clusters/${cluster}/api/allocations`);
    expect((body.allocations as Allocation[]).map(a => a.id)).toEqual([
      mine.id
    ]);
  }
  // One picker: both kernelspecs, named and labelled for their clusters (job ids may repeat).
  const specs = (await lab.server.json('GET', '/api/kernelspecs')).kernelspecs;
  expect(pythonKernelspec(onBehind)).toBe(
    `slurm-${BEHIND}-${onBehind.jobId}-python3`
  );
  expect(pythonKernelspec(onDoor)).toBe(
    `slurm-${DOOR}-${onDoor.jobId}-python3`
  );
  expect(specs[pythonKernelspec(onBehind)].spec.display_name).toContain(
    ` · ${BEHIND} · ${onBehind.node} · `
  );
  expect(specs[pythonKernelspec(onDoor)].spec.display_name).toContain(
    ` · ${DOOR} · ${onDoor.node} · `
  );

  // Each kernel runs on its node, in a job submitted on its cluster's login node.
  expect(await whereItRuns(onBehind, 'behind')).toBe(
    `${onBehind.node} ${BEHIND_THE_DOOR.host}`
  );
  expect(await whereItRuns(onDoor, 'door')).toBe(`${onDoor.node} login`);

  // Not taken out while its allocation runs; once it has ended, it is.
  const busy = await api('DELETE', `/api/clusters/${DOOR}`);
  expect([busy.status, busy.body.error]).toEqual([409, 'cluster_busy']);
  // The CLI beside the lab: its clusters, every cluster's allocations, a cancel by job id found on
  // the one cluster that has it, and one by --cluster.
  const cli = async (args: string[]) => {
    const r = await lab.harness.cli(args);
    expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
    return r;
  };
  expect((await cli(['clusters'])).stdout).toBe(
    `${BEHIND}\t${BEHIND_THE_DOOR.alias}\tup\tdefault\n${DOOR}\t${DOOR}\tup\n`
  );
  const lines = (await cli(['list'])).stdout.trim().split('\n');
  expect(lines.map(l => l.split('\t').slice(0, 3))).toEqual([
    [BEHIND, onBehind.id, `job ${onBehind.jobId}`],
    [DOOR, onDoor.id, `job ${onDoor.jobId}`]
  ]);
  // The next day: the lab's companion stopped and started again (the Jupyter Server stays here). Both saved clusters
  // are opened again, each asks for its code once (the host keys are known now), and both
  // allocations are still there, ready, their kernels in the picker and still running cells.
  const askedBefore = person.asked.length;
  const { body: about } = await api('GET', '/api');
  process.kill(about.pid as number, 'SIGTERM');
  await waitFor(
    "yesterday's companion to stop",
    async () => !isRunning(about.pid as number)
  );
  await lab.harness.startCompanion();
  await waitFor(
    'both saved clusters logged in again',
    async () => {
      const { body } = await api('GET', '/api/clusters');
      const clusters = body.clusters as ClusterSummary[];
      return clusters.length === 2 && clusters.every(c => c.login === 'up');
    },
    60_000,
    250
  );
  expect(person.asked.slice(askedBefore).map(q => [q.cluster, q.kind])).toEqual(
    expect.arrayContaining([
      [BEHIND, 'prompts'],
      [DOOR, 'prompts']
    ])
  );
  expect(person.asked.length - askedBefore).toBe(2);
  // Each is adopted again: its gateway reached anew (running), then ready.
  for (const [cluster, mine] of [
    [BEHIND, onBehind],
    [DOOR, onDoor]
  ] as const) {
    await waitFor(
      `the allocation on ${cluster} ready again`,
      async () => {
        const { body } = await api(
          'GET',
          `/clusters/${cluster}/api/allocations`
        );
        const states = (body.allocations as Allocation[]).map(a => [
          a.id,
          a.state
        ]);
        expect(states).toEqual([
          [mine.id, expect.stringMatching(/^(running|ready)$/)]
        ]);
        return states[0][1] === 'ready';
      },
      60_000,
      250
    );
  }
  const specsAgain = (await lab.server.json('GET', '/api/kernelspecs'))
    .kernelspecs;
  expect(Object.keys(specsAgain)).toEqual(
    expect.arrayContaining([
      pythonKernelspec(onBehind),
      pythonKernelspec(onDoor)
    ])
  );
  expect(await whereItRuns(onDoor, 'door-again')).toBe(`${onDoor.node} login`);

  const missing = await lab.harness.cli(['cancel', '999999']);
  expect([missing.code, missing.stderr]).toEqual([
    1,
    expect.stringContaining(
      'no cluster of this lab has an allocation or job 999999'
    )
  ]);
  expect((await cli(['cancel', onDoor.jobId as string])).stderr).toBe(
    `cancelling job ${onDoor.jobId} on ${DOOR}\n`
  );
  expect((await cli(['cancel', '--cluster', BEHIND, onBehind.id])).stderr).toBe(
    `cancelling job ${onBehind.jobId} on ${BEHIND}\n`
  );
  await waitFor(
    'both allocations to end',
    async () => {
      for (const cluster of [BEHIND, DOOR]) {
        const { body } = await api(
          'GET',
          `/clusters/${cluster}/api/allocations`
        );
        if ((body.allocations as Allocation[]).some(a => a.state !== 'ended')) {
          return false;
        }
      }
      return true;
    },
    60_000,
    500
  );
  expect((await api('DELETE', `/api/clusters/${DOOR}`)).status).toBe(204);
  expect(await listed()).toEqual([[BEHIND, false, true]]);
  // The first day, each login asked once: its code, and each host key once in all (the door's,
  // met by both logins, asked by whichever met it first and shared or saved for the other;
  // login2's, behind the door).
  const asked = (cluster: string) =>
    person.asked
      .slice(0, askedBefore)
      .filter(q => q.cluster === cluster)
      .map(q => [q.kind, q.kind === 'host-key' ? q.port : '']);
  expect(asked(BEHIND).filter(([kind]) => kind === 'prompts')).toHaveLength(1);
  expect(asked(DOOR).filter(([kind]) => kind === 'prompts')).toHaveLength(1);
  const hostKeys = [...asked(BEHIND), ...asked(DOOR)]
    .filter(([kind]) => kind === 'host-key')
    .map(([, port]) => port);
  expect(hostKeys.sort()).toEqual([22, LOGIN_DOOR.port].sort());
});
