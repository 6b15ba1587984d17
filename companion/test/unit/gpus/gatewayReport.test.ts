/**
 * The job's side of the GPU report (jupyterlab_slurm_kernels/gpus.py), in a real Python process
 * with the testbed's stand-in nvidia-smi replaying real captures: the evidence, rounds of samples
 * from one long-lived nvidia-smi, when each GPU was last busy, and no sampler left when the
 * process that started it is gone.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEVICE_FIELDS, SAMPLE_FIELDS } from '../../../src/gpus/nvidiaSmi';
import { GpuReport, gpuReportSchema } from '../../../src/gpus/watch';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const CAPTURES = path.join(ROOT, 'companion', 'test', 'fixtures', 'nvidia-smi');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sk-gpus-'));
  symlinkSync(
    path.join(ROOT, 'dev', 'testbed', 'nvidia-smi'),
    path.join(dir, 'nvidia-smi')
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The state file the stand-in reads: what this host's GPUs show (a capture and its row). */
function show(capture: string, row: number): void {
  writeFileSync(path.join(dir, os.hostname()), `${capture} ${row}\n`);
}

/**
 * Runs a GpuReport sampling every 100 ms; `steps` are Python statements run in between (the
 * report is `r`), each `emit()` prints r.answer(...) as one JSON line. Ends with os._exit, as a
 * killed gateway would: nothing of Python's own cleanup runs.
 */
function runReport(
  steps: string[],
  env: NodeJS.ProcessEnv = {},
  intervalMs = 100
): Promise<{ answers: GpuReport[]; samplerPid: number | null }> {
  const script = [
    'import json, os, sys, time',
    'import gpus',
    `r = gpus.GpuReport(${JSON.stringify(DEVICE_FIELDS)}, ${JSON.stringify(SAMPLE_FIELDS)}, ${intervalMs})`,
    'r.start()',
    'def emit(since=None):',
    '    print(json.dumps(r.answer(since)), flush=True)',
    ...steps,
    "print(json.dumps({'pid': r.process and r.process.pid}), flush=True)",
    'os._exit(0)'
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script], {
      env: {
        PATH: `${dir}:/usr/bin:/bin`,
        PYTHONPATH: path.join(ROOT, 'jupyterlab_slurm_kernels'),
        SLURM_KERNELS_TESTBED_CAPTURES: CAPTURES,
        SLURM_KERNELS_TESTBED_GPU_STATE: dir,
        ...env
      }
    });
    let out = '';
    let err = '';
    child.stdout.on('data', chunk => (out += chunk));
    child.stderr.on('data', chunk => (err += chunk));
    child.on('error', reject);
    child.on('exit', code => {
      if (code !== 0) {
        reject(new Error(`python exited ${code}: ${err}`));
        return;
      }
      const lines = out
        .trim()
        .split('\n')
        .map(line => JSON.parse(line));
      const last = lines.pop() as { pid: number | null };
      resolve({
        answers: lines.map(line => gpuReportSchema.parse(line)),
        samplerPid: last.pid
      });
    });
  });
}

/** Replaces the stand-in with an nvidia-smi that prints one line and exits with `code`. */
function nvidiaSmiThatSays(line: string, code: number): void {
  rmSync(path.join(dir, 'nvidia-smi'));
  writeFileSync(
    path.join(dir, 'nvidia-smi'),
    `#!/bin/sh\necho "${line}"\nexit ${code}\n`,
    { mode: 0o755 }
  );
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) {
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return !existsSync(`/proc/${pid}`);
}

describe("the job's GPU report", () => {
  it('reports the environment, the devices and rounds of samples from one nvidia-smi, and leaves no sampler behind', async () => {
    show('h100-idle-and-burn', 0);
    const { answers, samplerPid } = await runReport(
      ['time.sleep(1.5)', 'emit()', 'emit(r.seq - 2)'],
      { CUDA_VISIBLE_DEVICES: '1', SLURM_JOB_GPUS: '1' }
    );
    const [first, later] = answers;
    expect(first.environment).toMatchObject({
      CUDA_VISIBLE_DEVICES: '1',
      SLURM_JOB_GPUS: '1',
      SLURM_GPUS_ON_NODE: null
    });
    expect(first.devices).toEqual({
      csv: expect.stringContaining('NVIDIA H100 80GB HBM3, 81559')
    });
    expect(first.sampler).toEqual({ state: 'running', message: null });
    // Every 100 ms for 1.5 s, less the start: rounds of both GPUs, numbered, in order.
    expect(first.rounds.length).toBeGreaterThanOrEqual(5);
    for (const round of first.rounds) {
      expect(round.csv.split('\n')).toHaveLength(2);
    }
    expect(first.rounds.map(r => r.seq)).toEqual(
      first.rounds.map((_, i) => first.rounds[0].seq + i)
    );
    expect(later.rounds.map(r => r.seq)).toEqual([first.seq - 1, first.seq]);
    expect(first.lastBusy).toEqual({}); // idle all along
    // One nvidia-smi for all the rounds, gone with the process that started it.
    expect(samplerPid).toEqual(expect.any(Number));
    expect(await gone(samplerPid as number)).toBe(true);
  });

  it('notes when each GPU was last busy, and a GPU that does not say (MIG) as never idle', async () => {
    show('h100-idle-and-burn', 0);
    const { answers } = await runReport([
      'time.sleep(0.8)',
      'emit()',
      `open(os.path.join(${JSON.stringify(dir)}, os.uname().nodename), "w").write("h200 1")`,
      'time.sleep(0.8)',
      'emit()',
      `open(os.path.join(${JSON.stringify(dir)}, os.uname().nodename), "w").write("h200 2")`,
      'time.sleep(0.8)',
      'emit()'
    ]);
    const [idle, busy, mig] = answers;
    expect(idle.lastBusy).toEqual({});
    const uuids = Object.keys(busy.lastBusy);
    expect(uuids).toHaveLength(2);
    for (const uuid of uuids) {
      expect(mig.lastBusy[uuid]).toBeGreaterThan(busy.lastBusy[uuid]);
    }
    expect(mig.rounds.at(-1)?.csv).toContain('[N/A]');
  });

  it('ends the sampler with the process that started it, though it would sleep a minute more', async () => {
    show('h200', 0);
    const { samplerPid } = await runReport(
      ['while r.process is None: time.sleep(0.05)', 'time.sleep(0.3)'],
      {},
      60_000
    );
    expect(samplerPid).toEqual(expect.any(Number));
    const started = Date.now();
    expect(await gone(samplerPid as number)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('reads "No devices were found" (a filter hiding every GPU) as an empty list, not a failure', async () => {
    nvidiaSmiThatSays('No devices were found', 6);
    const { answers } = await runReport(['time.sleep(0.5)', 'emit()']);
    expect(answers[0].devices).toEqual({ csv: '' });
  });

  it('says so where the job has no nvidia-smi', async () => {
    rmSync(path.join(dir, 'nvidia-smi'));
    const { answers } = await runReport(['emit()'], {
      CUDA_VISIBLE_DEVICES: '0'
    });
    expect(answers[0].sampler.state).toBe('absent');
    expect(answers[0].devices).toEqual({
      error: "nvidia-smi is not on the job's PATH"
    });
  });

  it('keeps what nvidia-smi said when it cannot read the GPUs', async () => {
    nvidiaSmiThatSays(
      'Failed to initialize NVML: Driver/library version mismatch',
      18
    );
    const { answers } = await runReport(['time.sleep(0.5)', 'emit()']);
    expect(answers[0].devices).toEqual({
      error: 'Failed to initialize NVML: Driver/library version mismatch'
    });
    expect(answers[0].sampler).toEqual({
      state: 'failed',
      message: 'Failed to initialize NVML: Driver/library version mismatch'
    });
  });
});
