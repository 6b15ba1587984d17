/**
 * The tunnel reaches a node as the user's own ssh would: the ssh config's Port, HostKeyAlias and
 * known_hosts files count, and a host key it cannot verify fails the allocation at once with the
 * reason, instead of a long wait and a cancelled job. The config is given through
 * SLURM_KERNELS_SSH_CONFIG (ssh -F), so the test user's own ~/.ssh/config is never touched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Harness } from './harness';
import { requireTestUser } from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const harness = new Harness();
const config = path.join(harness.dir, 'ssh_config');
const knownHosts = path.join(harness.dir, 'cluster_known_hosts');

/** The testbed's nodes share one host key (dev/testbed/up.sh). */
const NODE_KEY = readFileSync('/etc/ssh/ssh_host_ed25519_key.pub', 'utf8')
  .split(' ')
  .slice(0, 2)
  .join(' ');

function useSshConfig(lines: string[]): void {
  writeFileSync(config, `Host node*\n${lines.map(l => `    ${l}\n`).join('')}`);
}

const requestCpu = () =>
  harness.cli(['request', '-p', 'cpu', '-t', '5', '--wait']);

beforeAll(async () => {
  useSshConfig([]);
  harness.env.SLURM_KERNELS_SSH_CONFIG = config;
  // ssh alone: in `auto` a node ssh cannot reach is reached through the srun relay instead
  // (srun-relay.test.ts); here what ssh itself does and says is under test.
  harness.env.SLURM_KERNELS_NODE_TRANSPORT = 'ssh';
  await harness.startCompanion();
});

afterAll(async () => {
  await harness.cancelAll();
  await harness.stop();
});

it('fails at once, naming the node and the known_hosts files, when the host key cannot be verified', async () => {
  writeFileSync(knownHosts, '');
  useSshConfig([
    `UserKnownHostsFile ${knownHosts}`,
    'GlobalKnownHostsFile /dev/null'
  ]);
  const started = Date.now();
  const result = await requestCpu();
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /the gateway did not come up: node\d: node\d is not in known_hosts; connect once with ssh to verify and add its key/
  );
  expect(result.stderr).toContain(`known_hosts files: ${knownHosts}`);
  // At once: not the gateway's 30 s answer limit, nor a start-up timeout.
  expect(Date.now() - started).toBeLessThan(20_000);
});

it("connects to the config's Port", async () => {
  useSshConfig(['Port 2222']);
  const result = await requestCpu();
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /node\d \(10\.77\.0\.\d+, port 2222\): cannot connect with ssh: connect ECONNREFUSED/
  );
});

it('verifies the node under its HostKeyAlias in the configured known_hosts file, and the kernel works', async () => {
  writeFileSync(knownHosts, `sk-itest-nodes ${NODE_KEY}\n`);
  useSshConfig([
    'HostKeyAlias sk-itest-nodes',
    `UserKnownHostsFile ${knownHosts}`,
    'GlobalKnownHostsFile /dev/null'
  ]);
  const result = await requestCpu();
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^slurm-\d+-python3\t/);
});
