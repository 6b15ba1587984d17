/**
 * Two login nodes behind one name, one $HOME: the user has a lab on each (here: `login2` over ssh,
 * and this host). Both companions run at once, each on its own host's socket; both see the same
 * allocations; a kernelspec one published starts from the other's Jupyter Server; either cancels.
 */
import { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { defaultSocketPath } from '../../src/state/files';
import { Harness, MAIN } from './harness';
import { JupyterServer } from './jupyter';
import { requireTestUser, spawnOnHost, waitFor } from './testbed';

jest.setTimeout(180_000);
requireTestUser();

const OTHER = 'login2';
const OTHER_IP = '10.77.0.9';
const harness = new Harness();
let otherCompanion: ChildProcess;
let otherLog = '';
let otherServer: JupyterServer;
let allocation: Allocation;

/** `slurm-kernels ARGS` run on the other login node. */
function cliThere(
  args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    const child = spawnOnHost(
      OTHER,
      [process.execPath, MAIN, ...args],
      harness.env
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdin?.end();
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

async function listThere(): Promise<Allocation[]> {
  const listed = await cliThere(['list', '--json']);
  expect(listed).toMatchObject({ code: 0 });
  return JSON.parse(listed.stdout);
}

beforeAll(async () => {
  await harness.startCompanion();
  otherCompanion = spawnOnHost(
    OTHER,
    [process.execPath, MAIN, 'serve'],
    harness.env,
    true
  );
  otherCompanion.stdout?.on('data', (c: Buffer) => (otherLog += c));
  // Its socket, on the shared file system (a CLI call now would start a companion of its own).
  await waitFor(
    `the companion on ${OTHER}`,
    async () => existsSync(defaultSocketPath(harness.env, OTHER)),
    20_000,
    100
  );
  // The other lab's Jupyter Server, its token in a 0600 file (never in a command line).
  const notebooks = path.join(harness.dir, 'notebooks-there');
  mkdirSync(notebooks);
  otherServer = await JupyterServer.start(harness.env, notebooks, [], {
    host: OTHER_IP,
    launch: (argv, env) => {
      const tokenFile = path.join(harness.dir, 'other-lab-token');
      writeFileSync(tokenFile, env.JUPYTER_TOKEN as string, { mode: 0o600 });
      const withTokenFile: NodeJS.ProcessEnv = {
        ...env,
        JUPYTER_TOKEN_FILE: tokenFile
      };
      delete withTokenFile.JUPYTER_TOKEN;
      return spawnOnHost(OTHER, argv, withTokenFile, true);
    }
  });
  allocation = await harness.requestGpu();
});

afterAll(async () => {
  await harness.cancelAll();
  await otherServer?.stop();
  if (otherCompanion?.exitCode === null) {
    const exited = new Promise(resolve => otherCompanion.once('exit', resolve));
    otherCompanion.kill('SIGTERM');
    await exited;
  }
  await harness.stop();
});

describe('two login nodes sharing $HOME', () => {
  it('run a companion each, on its own host socket, neither standing by for the other', async () => {
    const here = harness.socket;
    const there = defaultSocketPath(harness.env, OTHER);
    expect(here).not.toBe(there);
    expect(otherLog).not.toContain('standing by');
    expect(harness.companionLog).not.toContain('standing by');
    expect((await harness.cli(['list'])).code).toBe(0);
  });

  it("see the same allocations, and the other lab starts a kernel from this one's kernelspec", async () => {
    const seen = await waitFor(
      `the allocation, ready on ${OTHER}`,
      async () =>
        (await listThere()).find(
          a => a.id === allocation.id && a.state === 'ready'
        ),
      30_000,
      500
    );
    expect(seen.jobId).toBe(allocation.jobId);
    const specName = `slurm-${allocation.jobId}-python3`;
    const session = await otherServer.json('POST', '/api/sessions', {
      path: 'there.ipynb',
      name: 'there.ipynb',
      type: 'notebook',
      kernel: { name: specName }
    });
    const channel = await otherServer.connect(session.kernel.id);
    try {
      const { stdout } = await channel.execute(
        "import os, socket; print(socket.gethostname(), os.environ['SLURM_JOB_ID'])"
      );
      expect(stdout.trim()).toBe(`${allocation.node} ${allocation.jobId}`);
    } finally {
      channel.close();
      await otherServer.request('DELETE', `/api/sessions/${session.id}`);
    }
    // The other host's own companion bridged it (its shim found its host's socket).
    expect(otherLog).toContain('gateway reached');
  });

  it('cancel from the other login node ends the allocation in both', async () => {
    const cancelled = await cliThere(['cancel', allocation.jobId as string]);
    expect(cancelled.code).toBe(0);
    await waitFor(
      'the allocation to end here',
      async () =>
        (await harness.list()).find(
          a => a.id === allocation.id && a.state === 'ended'
        ),
      60_000,
      250
    );
    expect((await listThere()).find(a => a.id === allocation.id)?.state).toBe(
      'ended'
    );
    expect(
      harness
        .kernelspecNames()
        .filter(n => n.startsWith(`slurm-${allocation.jobId}-`))
    ).toEqual([]);
  });
});
