/**
 * A site's configuration (docs/admin.md), as an admin of a site using Lmod writes it: only the gpu
 * partition offered, defaults for a request, and a preset that loads the site's Python as a module
 * (the testbed's Lmod module site-python). A request with no options gets a kernel through that
 * module; a partition the site does not offer is refused before Slurm sees it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Harness } from './harness';
import { JupyterServer } from './jupyter';
import { requireTestUser } from './testbed';

jest.setTimeout(180_000);
requireTestUser();
const harness = new Harness();
const siteConfig = path.join(harness.dir, 'site.json');
let server: JupyterServer;

beforeAll(async () => {
  writeFileSync(
    siteConfig,
    JSON.stringify({
      partitions: ['gpu'],
      defaults: {
        partition: 'gpu',
        gres: 'gpu:1',
        time: '0:15:00',
        environment: 'python-module'
      },
      presets: { 'python-module': { modules: ['site-python/3.11'] } },
      idleCancelMinutes: 90
    })
  );
  harness.env.SLURM_KERNELS_SITE_CONFIG = siteConfig;
  await harness.startCompanion();
  server = await JupyterServer.start(harness.env, harness.dir);
});

afterAll(async () => {
  await harness.cancelAll();
  await server?.stop();
  await harness.stop();
});

it("offers the site's partitions and policy alone", async () => {
  const listed = await harness.cli(['request', '-p', 'cpu', '-t', '5']);
  expect(listed.code).toBe(1);
  expect(listed.stderr).toBe(
    'slurm-kernels: no partition "cpu" on this cluster (there are: gpu) (partition)\n'
  );
});

it("gets a kernel with no options at all: the site's defaults, its module preset loaded by Lmod", async () => {
  const allocation = await harness.request(['--wait']);
  expect(allocation.request).toMatchObject({
    partition: 'gpu',
    gres: 'gpu:1',
    time: '0:15:00',
    environment: { modules: ['site-python/3.11'] }
  });
  const session = await server.json('POST', '/api/sessions', {
    path: 'module.ipynb',
    name: 'module.ipynb',
    type: 'notebook',
    kernel: { name: allocation.kernelspecs[0].name }
  });
  const channel = await server.connect(session.kernel.id);
  try {
    const { stdout } = await channel.execute(
      "import os, sys; print(sys.executable, os.environ.get('LOADEDMODULES'))"
    );
    expect(stdout.trim()).toBe(
      '/opt/slurm-kernels/site-env/bin/python3 site-python/3.11'
    );
  } finally {
    channel.close();
    await server.request('DELETE', `/api/sessions/${session.id}`);
  }
});

it('refuses every request with the file and the field at fault when the configuration is wrong', async () => {
  writeFileSync(siteConfig, JSON.stringify({ partitions: 'gpu' }));
  const result = await harness.cli(['request', '-t', '5']);
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(
    `slurm-kernels: ${siteConfig}: partitions: Invalid input: expected array, received string\n`
  );
});
