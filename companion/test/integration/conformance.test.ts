/**
 * The third-party conformance suite jupyter_kernel_test (PyPI) against a remote kernelspec, driven by
 * jupyter_client over the bridge's ZMQ endpoints exactly as Jupyter Server drives kernels.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Harness } from './harness';
import { LAB_ENV } from './jupyter';
import { requireTestUser } from './testbed';

jest.setTimeout(240_000);
requireTestUser();
const harness = new Harness();

afterAll(async () => {
  await harness.cancelEverything().catch(() => undefined);
  await harness.stop();
});

it('passes jupyter_kernel_test against the remote Python kernel', async () => {
  await harness.startCompanion();
  const allocation = await harness.request([
    '-p',
    'gpu',
    '--gres',
    'gpu:1',
    '-t',
    '15',
    '--wait'
  ]);
  const spec = `slurm-${allocation.jobId}-python3`;

  const result = await new Promise<{ code: number | null; output: string }>(
    resolve => {
      const child = spawn(
        `${LAB_ENV}/bin/python`,
        ['-m', 'unittest', '-v', 'test_remote_kernel'],
        {
          cwd: path.join(__dirname, 'conformance'),
          env: {
            ...harness.env,
            SLURM_KERNELS_SPEC: spec,
            PYTHONDONTWRITEBYTECODE: '1'
          }
        }
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
      // A suite that hangs must not keep jest (and the whole run) alive after this test gives up.
      const limit = setTimeout(() => {
        output += '\n[killed: the suite ran past 180 s]\n';
        child.kill('SIGKILL');
      }, 180_000);
      child.on('close', code => {
        clearTimeout(limit);
        resolve({ code, output });
      });
    }
  );
  const ran = /Ran (\d+) tests?/.exec(result.output);
  if (result.code !== 0) {
    throw new Error(
      `jupyter_kernel_test failed:\n${result.output.slice(-6000)}`
    );
  }
  expect(Number(ran?.[1])).toBeGreaterThanOrEqual(12); // jupyter_kernel_test 0.7.0 has 12 tests for this sample set;
  expect(result.output).toMatch(/\nOK/);
  // The only skip allowed is the suite's own for an operation ipykernel does not offer.
  const skips = [...result.output.matchAll(/skipped '([^']*)'/g)].map(
    m => m[1]
  );
  expect(skips).toEqual(['History range not supported']);
});
