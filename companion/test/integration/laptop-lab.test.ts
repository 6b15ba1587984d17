/**
 * A lab on the testbed's laptop (dev/testbed/laptop.sh: a network that reaches the login node's
 * sshd only, a home of its own): the companion runs `serve --cluster testbed-2fa` beside the lab's
 * Jupyter Server and drives the testbed through the login node's key + TOTP door. It answers at once and
 * holds the login's questions (the host key it has never seen, then the code) until they are
 * answered through its API, as the lab's dialog will; then a request, a kernel started by the
 * lab's own Jupyter Server and a cell on the node all go through that one login, and the code
 * was asked once. The laptop's files name no node: the cluster vouches for them.
 */
import { readFileSync } from 'node:fs';
import type { Allocation } from '../../../src/api/allocation';
import type { LoginQuestion } from '../../../src/api/login';
import { requestJson } from '../unit/http/request';
import { hostnameOfKernel, laptopKnownHosts, useLaptopLab } from './setup';
import { LOGIN_DOOR, requireTestUser, totpCode, waitFor } from './testbed';

jest.setTimeout(180_000);
requireTestUser();

const lab = useLaptopLab();

/** The questions the companion's login waits on, once there is one. */
async function nextQuestion(): Promise<LoginQuestion> {
  return waitFor(
    'a login question',
    async () =>
      ((await requestJson(lab.harness.socket, 'GET', '/api/logins')).body
        ?.questions ?? [])[0],
    30_000,
    100
  );
}

it('logs in once through the questions it holds, then runs a kernel on the node through that login', async () => {
  // Answering before the login: the probe, and the login's own state.
  const probe = await requestJson(lab.harness.socket, 'GET', '/api');
  expect(probe.body).toMatchObject({ cluster: LOGIN_DOOR.alias });

  const hostKey = await nextQuestion();
  expect(hostKey).toMatchObject({
    kind: 'host-key',
    cluster: LOGIN_DOOR.alias,
    port: LOGIN_DOOR.port,
    keyType: 'ssh-ed25519',
    fingerprint: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/)
  });
  expect(
    (
      await requestJson(
        lab.harness.socket,
        'POST',
        `/api/logins/${hostKey.id}`,
        {
          trust: true
        }
      )
    ).status
  ).toBe(204);
  const code = await nextQuestion();
  expect(code).toMatchObject({
    kind: 'prompts',
    prompts: [{ prompt: 'Verification code: ', echo: false }]
  });
  expect(
    (
      await requestJson(lab.harness.socket, 'POST', `/api/logins/${code.id}`, {
        answers: [totpCode()]
      })
    ).status
  ).toBe(204);
  expect(readFileSync(laptopKnownHosts(lab.harness), 'utf8')).toMatch(
    /^\[10\.77\.0\.10\]:2222 ssh-ed25519 /
  );

  const a: Allocation = await lab.harness.requestCpu();
  expect(a.state).toBe('ready');
  expect(a.transport?.kind).toBe('ssh');
  const { session, hostname } = await hostnameOfKernel(lab, a, 'laptop');
  expect(hostname).toBe(a.node);
  await lab.server.request('DELETE', `/api/sessions/${session.id}`);
  await lab.harness.cli(['cancel', a.id]);
  // No further question came: one login carried it all.
  expect(
    (await requestJson(lab.harness.socket, 'GET', '/api/logins')).body
  ).toEqual({ questions: [] });
  expect(readFileSync(laptopKnownHosts(lab.harness), 'utf8')).not.toMatch(
    /node/
  );
});
