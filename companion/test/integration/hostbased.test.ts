/**
 * Nodes that take hostbased logins only, as many clusters let users from their login nodes in:
 * the user's ssh config turns public keys off and hostbased authentication on, so the companion's
 * ssh (ssh2, which cannot sign with the login node's host key) is refused and says why, and the
 * user's OpenSSH (its setuid ssh-keysign signs) carries the kernel. The testbed's nodes trust the
 * login hosts (dev/testbed/up.sh: shosts.equiv, EnableSSHKeysign); the config comes through
 * SLURM_KERNELS_SSH_CONFIG (ssh -F), so the test user's own files are never touched.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { hostnameOfKernel, useLabSide } from './setup';
import { childProcessesOf, requireTestUser, waitFor } from './testbed';

jest.setTimeout(240_000);
requireTestUser();

const lab = useLabSide(harness => {
  const config = path.join(harness.dir, 'ssh_config');
  writeFileSync(
    config,
    [
      'Host node*',
      '    HostbasedAuthentication yes',
      '    PubkeyAuthentication no',
      ''
    ].join('\n')
  );
  harness.env.SLURM_KERNELS_SSH_CONFIG = config;
});

it("reaches a node that takes hostbased logins only through the user's OpenSSH, and says why", async () => {
  const a: Allocation = await lab.harness.requestCpu();
  expect(a.transport?.kind).toBe('openssh');
  expect(a.transport?.note).toMatch(
    /^ssh to node\d failed \(node\d: ssh authentication failed \(no keys: the ssh config sets PubkeyAuthentication no; the ssh config also logs in with hostbased authentication \(ssh-keysign\), which the companion's ssh cannot use\)\)/
  );
  const { session, hostname } = await hostnameOfKernel(lab, a, 'hostbased');
  expect(hostname).toBe(a.node);
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', a.id]);
  await waitFor(
    'no ssh -W left after the cancel',
    async () =>
      (await childProcessesOf(lab.harness.companionPid as number, 'ssh'))
        .length === 0,
    30_000,
    250
  );
});
