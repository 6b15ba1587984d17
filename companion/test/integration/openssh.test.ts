/**
 * Nodes only the user's own OpenSSH can verify: their known_hosts entry is a @cert-authority line
 * (the testbed's CA certifies the hosts' key, dev/testbed/up.sh), which the companion's ssh (ssh2)
 * cannot check. In `auto` the companion says so and reaches the gateway through `ssh -W` instead,
 * and the kernel works; a CA that did not sign the node's certificate is refused by OpenSSH too,
 * and the srun relay is used. The known_hosts file is given through SLURM_KERNELS_SSH_CONFIG (ssh
 * -F), so the test user's own files are never touched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { hostnameOfKernel, useLabSide } from './setup';
import {
  childProcessesOf,
  liveJobsOfOurs,
  requireTestUser,
  waitFor
} from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const CA_KEY = readFileSync('/etc/ssh/slurm-testbed-ca.pub', 'utf8')
  .split(' ')
  .slice(0, 2)
  .join(' ');
/** A CA of nobody's: a key that signed nothing (the testbed's plain host key). */
const OTHER_KEY = readFileSync('/etc/ssh/ssh_host_ed25519_key.pub', 'utf8')
  .split(' ')
  .slice(0, 2)
  .join(' ');

let knownHosts: string;
const lab = useLabSide(harness => {
  const config = path.join(harness.dir, 'ssh_config');
  knownHosts = path.join(harness.dir, 'ca_known_hosts');
  trustCa(CA_KEY);
  writeFileSync(
    config,
    [
      'Host node*',
      `    UserKnownHostsFile ${knownHosts}`,
      '    GlobalKnownHostsFile /dev/null',
      ''
    ].join('\n')
  );
  harness.env.SLURM_KERNELS_SSH_CONFIG = config;
});

function trustCa(key: string): void {
  writeFileSync(knownHosts, `@cert-authority node*,10.77.0.* ${key}\n`);
}

const requestCpu = () => lab.harness.requestCpu();

/** OpenSSH clients (`ssh -W`) the companion runs now. */
async function openSshStreams(): Promise<number[]> {
  return childProcessesOf(lab.harness.companionPid as number, 'ssh');
}

it("reaches a node only a @cert-authority line vouches for through the user's OpenSSH, and says why", async () => {
  const a: Allocation = await requestCpu();
  expect(a.transport?.kind).toBe('openssh');
  expect(a.transport?.note).toMatch(
    /^ssh to node\d failed \(node\d: node\d is vouched for only by a @cert-authority line in known_hosts/
  );
  const { session, hostname } = await hostnameOfKernel(lab, a, 'ca');
  expect(hostname).toBe(a.node);
  // Each stream is one `ssh -W` (the kernel's websocket at least), a child of the companion.
  expect((await openSshStreams()).length).toBeGreaterThanOrEqual(1);
  const listed = await lab.harness.cli(['list']);
  expect(listed.stdout).toContain(` via openssh\t`);

  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', a.id]);
  await waitFor(
    'no ssh -W left after the cancel',
    async () => (await openSshStreams()).length === 0,
    30_000,
    250
  );
});

it('is refused by OpenSSH too when the CA did not sign the node, and goes through the srun relay', async () => {
  trustCa(OTHER_KEY);
  const a: Allocation = await requestCpu();
  expect(a.transport?.kind).toBe('srun');
  expect(a.transport?.note).toMatch(
    /OpenSSH to node\d failed \(node\d: OpenSSH's ssh failed: .*Host key verification failed\.\)/
  );
  await lab.harness.cli(['cancel', a.id]);
  await waitFor(
    'the job gone',
    async () => (await liveJobsOfOurs()).length === 0,
    60_000
  );
});
