/**
 * Fault: the user's Jupyter Server restarts (JupyterLab closed and opened again, a hub restarting
 * the single-user server), cleanly or killed outright. The allocation and its kernelspecs stay; the
 * new server starts kernels in it; the old server's remote kernels are shut down, never left on the
 * gateway holding GPU memory.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { GatewayClient } from '../../src/gateway/client';
import { LocalRunner } from '../../src/slurm';
import { companionHostConfig } from '../../src/tunnel/hostConfig';
import { SshPool } from '../../src/tunnel/ssh';
import { Harness } from './harness';
import { JupyterServer } from './jupyter';
import { requireTestUser, waitFor } from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const harness = new Harness();
const notebooks = path.join(harness.dir, 'notebooks');
const tunnels = new SshPool({
  hostConfig: companionHostConfig(new LocalRunner())
});
let server: JupyterServer;
let allocation: Allocation;
let gateway: GatewayClient;

beforeAll(async () => {
  await harness.startCompanion();
  mkdirSync(notebooks);
  server = await JupyterServer.start(harness.env, notebooks);
  allocation = await harness.requestGpu();
  // The test looks at the job's gateway itself, as the companion reaches it.
  gateway = harness.gatewayOf(allocation, tunnels);
});

afterAll(async () => {
  await server?.stop();
  await harness.cancelAll();
  tunnels.dispose();
  await harness.stop();
});

/** Starts a notebook session on the allocation's Python kernel and runs a cell in it. */
async function kernelOn(name: string): Promise<string> {
  const session = await server.json('POST', '/api/sessions', {
    path: `${name}.ipynb`,
    name: `${name}.ipynb`,
    type: 'notebook',
    kernel: { name: `slurm-${allocation.jobId}-python3` }
  });
  const channel = await server.connect(session.kernel.id);
  try {
    const { stdout } = await channel.execute(
      "import os; print(os.environ['SLURM_JOB_ID'])"
    );
    expect(stdout).toBe(`${allocation.jobId}\n`);
  } finally {
    channel.close();
  }
  return session.kernel.id;
}

it.each([
  ['stopped', (s: JupyterServer) => s.stop()],
  ['killed outright', (s: JupyterServer) => s.kill()]
])(
  'keeps the allocation when the server is %s, and leaves no remote kernel of the old one',
  async (_how, end) => {
    await kernelOn('before');
    expect(await gateway.kernels()).toHaveLength(1);
    await end(server);
    // A shim outliving its server notices and goes: its remote kernel is shut down.
    await waitFor(
      'the old remote kernel gone',
      async () => (await gateway.kernels()).length === 0,
      30_000,
      500
    );

    server = await JupyterServer.start(harness.env, notebooks);
    const [kept] = await harness.list();
    expect(kept).toMatchObject({
      id: allocation.id,
      state: 'ready',
      kernelspecs: allocation.kernelspecs
    });
    const specs = await server.json('GET', '/api/kernelspecs');
    expect(Object.keys(specs.kernelspecs)).toContain(
      `slurm-${allocation.jobId}-python3`
    );
    await kernelOn('after');
    expect(await gateway.kernels()).toHaveLength(1);
    // Shut down as a user would: the remote kernel goes with the session.
    for (const session of await server.json('GET', '/api/sessions')) {
      await server.request('DELETE', `/api/sessions/${session.id}`);
    }
    await waitFor(
      'the remote kernel shut down',
      async () => (await gateway.kernels()).length === 0,
      30_000,
      500
    );
  }
);
