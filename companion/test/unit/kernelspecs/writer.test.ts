import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  gresLabel,
  KernelspecWriter,
  readOurKernelspec
} from '../../../src/kernelspecs/writer';

describe('KernelspecWriter', () => {
  let dataDir: string;
  let writer: KernelspecWriter;
  const label = {
    allocationId: 'a1',
    jobId: '1234',
    node: 'node2',
    gresLabel: '2× tesla'
  };
  const python = {
    remoteName: 'python3',
    displayName: 'Python 3',
    language: 'python',
    logos: { 'logo-64x64.png': Buffer.from('png') }
  };

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'sk-specs-'));
    writer = new KernelspecWriter({
      dataDir,
      shimArgv: ['/usr/bin/node', '/x/shim.js', '--socket', '/s.sock']
    });
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('writes slurm-<job>-<name> with the shim argv, message interrupts and the display name users see', async () => {
    const refs = await writer.publish(label, [python]);
    expect(refs).toEqual([
      {
        name: 'slurm-1234-python3',
        displayName: 'Python 3 · node2 · 2× tesla · job 1234',
        language: 'python'
      }
    ]);
    const dir = path.join(dataDir, 'kernels', 'slurm-1234-python3');
    const spec = JSON.parse(
      readFileSync(path.join(dir, 'kernel.json'), 'utf8')
    );
    expect(spec.argv).toEqual([
      '/usr/bin/node',
      '/x/shim.js',
      '--socket',
      '/s.sock',
      '--spec',
      'slurm-1234-python3',
      '{connection_file}'
    ]);
    expect(spec.interrupt_mode).toBe('message');
    expect(spec.metadata.slurm_kernels).toEqual({
      allocationId: 'a1',
      jobId: '1234',
      remoteName: 'python3',
      node: 'node2'
    });
    expect(readFileSync(path.join(dir, 'logo-64x64.png'), 'utf8')).toBe('png');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('skips remote names Jupyter could not route', async () => {
    expect(
      await writer.publish(label, [{ ...python, remoteName: 'bad name/../x' }])
    ).toEqual([]);
  });

  it("removes a job's specs, and sweeps only its own stale ones", async () => {
    await writer.publish(label, [python]);
    await writer.publish({ ...label, allocationId: 'a2', jobId: '99' }, [
      python
    ]);
    // Somebody else's kernelspec that merely starts with slurm-: never touched.
    mkdirSync(path.join(dataDir, 'kernels', 'slurm-other'));
    writeFileSync(
      path.join(dataDir, 'kernels', 'slurm-other', 'kernel.json'),
      '{"argv": [], "display_name": "x", "language": "x"}'
    );
    await writer.removeJob('1234');
    expect(readdirSync(path.join(dataDir, 'kernels')).sort()).toEqual([
      'slurm-99-python3',
      'slurm-other'
    ]);
    expect(await writer.sweep(new Set(['a-live']))).toEqual([
      'slurm-99-python3'
    ]);
    expect(readdirSync(path.join(dataDir, 'kernels'))).toEqual(['slurm-other']);
  });

  it("names a cluster's kernelspecs for it, and never sweeps another cluster's", async () => {
    const onCluster = (cluster?: string) =>
      new KernelspecWriter({ dataDir, shimArgv: ['/n', '/s.js'], cluster });
    const a = onCluster('hpc-a');
    const b = onCluster('hpc-b');
    // The same job id on two clusters: two kernelspecs, each named and labelled for its cluster.
    const [onA] = await a.publish(label, [python]);
    const [onB] = await b.publish({ ...label, allocationId: 'b1' }, [python]);
    expect(onA).toEqual({
      name: 'slurm-hpc-a-1234-python3',
      displayName: 'Python 3 · hpc-a · node2 · 2× tesla · job 1234',
      language: 'python'
    });
    expect(onB.name).toBe('slurm-hpc-b-1234-python3');
    await writer.publish(label, [python]);
    expect(await readOurKernelspec(writer.kernelsDir, onB.name)).toMatchObject({
      cluster: 'hpc-b',
      allocationId: 'b1'
    });
    expect(await a.read(onB.name)).toBeUndefined();
    // Each sweeps and removes its own only: the local one's and hpc-b's stay.
    expect(await a.sweep(new Set())).toEqual(['slurm-hpc-a-1234-python3']);
    await b.removeJob('1234');
    expect(readdirSync(path.join(dataDir, 'kernels'))).toEqual([
      'slurm-1234-python3'
    ]);
    expect(await onCluster().sweep(new Set(['a1']))).toEqual([]);
  });

  it('labels GRES the way people say them', () => {
    expect(gresLabel('gpu:tesla:2')).toBe('2× tesla');
    expect(gresLabel('gpu:1')).toBe('1× GPU');
    expect(gresLabel('gpu')).toBe('1× GPU');
    expect(gresLabel(undefined)).toBe('CPU only');
  });
});
