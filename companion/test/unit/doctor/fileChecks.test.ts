import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  checkKernelspecDir,
  checkPrivateDir,
  checkSocketDir,
  checkStateDir
} from '../../../src/doctor/fileChecks';
import { fakeContext, IFakeContext } from './fake-context';

describe('doctor: the kernelspec dir', () => {
  let ctx: IFakeContext;
  beforeEach(() => (ctx = fakeContext()));
  afterEach(() => ctx.cleanUp());

  it('is writable where it exists, and the probe leaves nothing behind', async () => {
    const kernels = path.join(ctx.dir, 'jupyter-data', 'kernels');
    mkdirSync(kernels, { recursive: true });
    expect(await checkKernelspecDir(ctx)).toEqual({
      check: 'kernelspec dir',
      status: 'ok',
      detail: `${kernels} is writable`
    });
    expect(readdirSync(kernels)).toEqual([]);
  });

  it('is ok when missing but creatable in a writable parent', async () => {
    const result = await checkKernelspecDir(ctx);
    expect(result.status).toBe('ok');
    expect(result.detail).toBe(
      `${path.join(ctx.dir, 'jupyter-data', 'kernels')} does not exist yet; it will be created in ${ctx.dir} (writable)`
    );
  });

  it('fails where a file stands in the way, naming JUPYTER_DATA_DIR in the fix', async () => {
    writeFileSync(path.join(ctx.dir, 'jupyter-data'), '');
    const result = await checkKernelspecDir(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toBe(
      `${path.join(ctx.dir, 'jupyter-data')} is not a directory`
    );
    expect(result.fix).toMatch(/JUPYTER_DATA_DIR/);
  });
});

describe('doctor: the state and socket dirs', () => {
  let ctx: IFakeContext;
  beforeEach(() => (ctx = fakeContext()));
  afterEach(() => ctx.cleanUp());

  it('is ok before the companion created them', async () => {
    const state = path.join(ctx.dir, 'state', 'slurm-kernels');
    expect(await checkStateDir(ctx)).toEqual({
      check: 'state dir',
      status: 'ok',
      detail: `${state} does not exist yet; the companion creates it 0700`
    });
  });

  it('is ok at 0700, owned by the user', async () => {
    const state = path.join(ctx.dir, 'state', 'slurm-kernels');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    expect((await checkStateDir(ctx)).detail).toBe(
      `${state}: mode 0700, owned by alice`
    );
  });

  it('warns when group or others can read it, with the chmod that fixes it', async () => {
    const state = path.join(ctx.dir, 'state', 'slurm-kernels');
    mkdirSync(state, { recursive: true });
    chmodSync(state, 0o755);
    expect(await checkStateDir(ctx)).toEqual({
      check: 'state dir',
      status: 'warn',
      detail: `${state} is mode 0755: others can read it`,
      fix: `chmod 700 ${state}`
    });
  });

  it('fails when the user cannot write in it', async () => {
    const state = path.join(ctx.dir, 'state', 'slurm-kernels');
    mkdirSync(state, { recursive: true });
    chmodSync(state, 0o500);
    const result = await checkStateDir(ctx);
    chmodSync(state, 0o700);
    expect(result).toMatchObject({ status: 'fail', fix: `chmod 700 ${state}` });
  });

  it("fails when it is somebody else's", async () => {
    mkdirSync(path.join(ctx.dir, 'state', 'slurm-kernels'), {
      recursive: true,
      mode: 0o700
    });
    const result = await checkStateDir({ ...ctx, uid: ctx.uid + 1 });
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/belongs to uid \d+, not to alice/);
  });

  it("checks the socket's directory under XDG_RUNTIME_DIR", async () => {
    const runtime = path.join(ctx.dir, 'run');
    mkdirSync(path.join(runtime, 'slurm-kernels'), { recursive: true });
    chmodSync(path.join(runtime, 'slurm-kernels'), 0o711);
    const result = await checkSocketDir({
      ...ctx,
      env: { ...ctx.env, XDG_RUNTIME_DIR: runtime }
    });
    expect(result).toEqual({
      check: 'socket dir',
      status: 'warn',
      detail: `${path.join(runtime, 'slurm-kernels')} is mode 0711: others can enter it`,
      fix: `chmod 700 ${path.join(runtime, 'slurm-kernels')}`
    });
  });

  it('names the directory it could not look at', async () => {
    writeFileSync(path.join(ctx.dir, 'file'), '');
    const result = await checkPrivateDir(
      ctx,
      'state dir',
      path.join(ctx.dir, 'file', 'x')
    );
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/^cannot look at .*file\/x: ENOTDIR/);
  });
});
