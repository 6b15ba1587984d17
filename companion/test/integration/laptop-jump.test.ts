/**
 * ProxyJump for the login: from the testbed's laptop, the second login node is reached only
 * through the first (the door, key + TOTP) as a jump host. Each hop is a login of its own: the
 * jump host's key and code, then the second login node's key, each asked once; Slurm's commands
 * then run on the second login node, and a kernel's traffic goes through both.
 */
import { readFileSync } from 'node:fs';
import { laptopKnownHosts, notebookOn, useLaptopLab } from './setup';
import {
  BEHIND_THE_DOOR,
  LaptopPerson,
  laptopReaches,
  LOGIN_DOOR,
  requireTestUser
} from './testbed';

jest.setTimeout(180_000);
requireTestUser();

const lab = useLaptopLab(undefined, BEHIND_THE_DOOR.alias);
let person: LaptopPerson;

beforeAll(() => {
  person = new LaptopPerson(lab.harness.socket);
  person.start();
});

afterAll(() => person?.stop());

it('logs in through the jump host, each hop asking its own, and runs Slurm and a kernel behind it', async () => {
  expect(await laptopReaches(BEHIND_THE_DOOR.address, 22)).toBe(false);

  const a = await lab.harness.requestCpu();
  expect(a.state).toBe('ready');
  // The kernel runs on the node, in a job sbatch submitted on the login node behind the jump host.
  const { session, channel } = await notebookOn(lab, a, 'jump');
  const { stdout } = await channel.execute(
    'import os, socket; print(socket.gethostname(), os.environ.get("SLURM_SUBMIT_HOST"))'
  );
  channel.close();
  expect(stdout).toBe(`${a.node} ${BEHIND_THE_DOOR.host}\n`);
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', a.id]);

  expect(
    person.asked.map(q => [q.kind, q.kind === 'host-key' ? q.port : ''])
  ).toEqual([
    ['host-key', LOGIN_DOOR.port],
    ['prompts', ''],
    ['host-key', 22]
  ]);
  // Both keys saved as OpenSSH saves them: the door by its port, the host behind by its address.
  const saved = readFileSync(laptopKnownHosts(lab.harness), 'utf8');
  expect(saved).toMatch(/^\[10\.77\.0\.10\]:2222 ssh-ed25519 /m);
  expect(saved).toMatch(/^10\.77\.0\.9 ssh-ed25519 /m);
});
