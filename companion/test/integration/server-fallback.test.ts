/**
 * Where the environment has Jupyter Server but no Kernel Gateway, the job runs `jupyter server`
 * instead, and the kernel works the same (the testbed's server-only-env).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { useLabSide } from './setup';
import { requireTestUser } from './testbed';

jest.setTimeout(120_000);
requireTestUser();
const SERVER_ONLY_ENV = '/opt/slurm-kernels/server-only-env';
const side = useLabSide(harness => {
  harness.writePresets({ 'server-only': { venv: SERVER_ONLY_ENV } });
});

it('runs jupyter server in the job when Kernel Gateway is not installed; the kernel works and never sees the token', async () => {
  const { harness, server } = side;
  const allocation = await harness.request([
    '-p',
    'cpu',
    '-t',
    '10',
    '--env',
    'server-only',
    '--wait'
  ]);
  const rendezvous = harness.rendezvousOf(allocation.id);
  expect(rendezvous.kind).toBe('server');

  const spec = `slurm-${allocation.jobId}-python3`;
  expect(harness.kernelspecNames()).toContain(spec);
  const session = await server.json('POST', '/api/sessions', {
    path: 'fallback.ipynb',
    type: 'notebook',
    kernel: { name: spec }
  });
  const channel = await server.connect(session.kernel.id);
  try {
    const { stdout } = await channel.execute(
      "import shutil, socket, sys; print(socket.gethostname(), sys.prefix, shutil.which('jupyter-kernelgateway'))"
    );
    expect(stdout.trim().split(' ')).toEqual([
      allocation.node,
      SERVER_ONLY_ENV,
      'None'
    ]);
    // jupyter server passes JUPYTER_TOKEN on to its kernels; the job gives it a file name only.
    const token = readFileSync(
      path.join(harness.allocationDir(allocation.id), 'token'),
      'utf8'
    ).trim();
    const env = await channel.execute(
      'import os; print(sorted(os.environ.items()))'
    );
    expect(env.stdout).toContain('SLURM_JOB_ID');
    expect(env.stdout).not.toContain(token);
  } finally {
    channel.close();
  }
});
