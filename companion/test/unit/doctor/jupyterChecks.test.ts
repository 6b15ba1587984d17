import { stripVTControlCharacters } from 'node:util';
import {
  checkJupyterLab,
  checkServerExtensions,
  parseLabextension,
  parseServerExtension
} from '../../../src/doctor/jupyterChecks';
import { fakeContext, IFakeContext } from './fake-context';

const GREEN_ENABLED = '\u001b[32menabled\u001b[0m';
const RED_DISABLED = '\u001b[31mdisabled\u001b[0m';
const GREEN_OK = '\u001b[32mOK\u001b[0m';
const RED_X = '\u001b[31m X\u001b[0m';

/** `jupyter labextension list` in the testbed's lab env (its stderr, colours included). */
function labextensionList(
  ours = `${GREEN_ENABLED} ${GREEN_OK}`,
  version = '4.6.4'
): string {
  return [
    `JupyterLab v${version}`,
    '/opt/slurm-kernels/lab-env/share/jupyter/labextensions',
    `        jupyterlab_pygments v0.3.0 ${GREEN_ENABLED} ${GREEN_OK} (python, jupyterlab_pygments)`,
    `        jupyterlab-slurm-kernels v0.1.0 ${ours}`,
    `        @jupyterhub/jupyter-server-proxy v4.6.0 ${GREEN_ENABLED} ${GREEN_OK}`,
    ''
  ].join('\n');
}

/** `jupyter server extension list` there (stderr). */
function serverExtensionList(ours = GREEN_ENABLED, proxy = true): string {
  return [
    'Config dir: /home/alice/.jupyter',
    '',
    'Config dir: /opt/slurm-kernels/lab-env/etc/jupyter',
    ...(proxy
      ? [
          `    jupyter_server_proxy ${GREEN_ENABLED}`,
          '    - Validating jupyter_server_proxy...',
          'Extension package jupyter_server_proxy took 0.1769s to import',
          `      jupyter_server_proxy 4.6.0 ${GREEN_OK}`
        ]
      : []),
    `    jupyterlab ${GREEN_ENABLED}`,
    '    - Validating jupyterlab...',
    `      jupyterlab 4.6.4 ${GREEN_OK}`,
    `    jupyterlab_slurm_kernels ${ours}`,
    '    - Validating jupyterlab_slurm_kernels...',
    `      jupyterlab_slurm_kernels 0.1.0 ${GREEN_OK}`,
    '',
    'Config dir: /usr/local/etc/jupyter',
    ''
  ].join('\n');
}

function jupyterAnswering(lab: string, server: string) {
  return (argv: readonly string[]) =>
    argv[1] === 'labextension' ? { stderr: lab } : { stderr: server };
}

describe('doctor: JupyterLab', () => {
  let ctx: IFakeContext;
  afterEach(() => ctx.cleanUp());

  it('names the version and our labextension, enabled', async () => {
    ctx = fakeContext(
      jupyterAnswering(labextensionList(), serverExtensionList())
    );
    expect(await checkJupyterLab(ctx)).toEqual({
      check: 'jupyterlab',
      status: 'ok',
      detail: 'JupyterLab 4.6.4; jupyterlab-slurm-kernels v0.1.0 enabled'
    });
    expect(ctx.runner.calls[0].argv).toEqual([
      'jupyter',
      'labextension',
      'list'
    ]);
  });

  it('fails on a disabled labextension, with the command that enables it', async () => {
    ctx = fakeContext(
      jupyterAnswering(labextensionList(`${RED_DISABLED} ${GREEN_OK}`), '')
    );
    expect(await checkJupyterLab(ctx)).toEqual({
      check: 'jupyterlab',
      status: 'fail',
      detail: 'JupyterLab 4.6.4; jupyterlab-slurm-kernels v0.1.0 disabled',
      fix: 'jupyter labextension enable jupyterlab-slurm-kernels'
    });
  });

  it('fails where the labextension is not installed', async () => {
    ctx = fakeContext(jupyterAnswering('JupyterLab v4.6.4\n', ''));
    expect(await checkJupyterLab(ctx)).toMatchObject({
      status: 'fail',
      detail: 'JupyterLab 4.6.4; jupyterlab-slurm-kernels not installed',
      fix: expect.stringMatching(
        /pip install the jupyterlab_slurm_kernels wheel/
      )
    });
  });

  it('warns on a JupyterLab other than 4.6', async () => {
    ctx = fakeContext(
      jupyterAnswering(labextensionList(undefined, '4.5.0'), '')
    );
    expect(await checkJupyterLab(ctx)).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/built for JupyterLab 4\.6$/)
    });
  });

  it('warns, running nothing, where jupyter is not on PATH', async () => {
    ctx = fakeContext(undefined, ['sbatch']);
    expect(await checkJupyterLab(ctx)).toMatchObject({
      status: 'warn',
      detail: 'no jupyter on PATH',
      fix: expect.stringMatching(/in JupyterLab's environment/)
    });
    expect(ctx.runner.calls).toEqual([]);
  });

  it('reads an incompatible labextension as not OK', () => {
    const text = stripVTControlCharacters(
      labextensionList(`${GREEN_ENABLED} ${RED_X}`)
    );
    expect(parseLabextension(text, 'jupyterlab-slurm-kernels')).toEqual({
      installed: true,
      version: '0.1.0',
      enabled: true,
      valid: false
    });
  });
});

describe('doctor: server extensions', () => {
  let ctx: IFakeContext;
  afterEach(() => ctx.cleanUp());

  it('finds ours and jupyter-server-proxy enabled', async () => {
    ctx = fakeContext(jupyterAnswering('', serverExtensionList()));
    expect(await checkServerExtensions(ctx)).toEqual({
      check: 'server extensions',
      status: 'ok',
      detail:
        'jupyterlab_slurm_kernels v0.1.0 enabled; jupyter_server_proxy v4.6.0 enabled'
    });
    expect(ctx.runner.calls[0].argv).toEqual([
      'jupyter',
      'server',
      'extension',
      'list'
    ]);
  });

  it('fails on a disabled extension and a missing proxy, with a fix for each', async () => {
    ctx = fakeContext(
      jupyterAnswering('', serverExtensionList(RED_DISABLED, false))
    );
    expect(await checkServerExtensions(ctx)).toEqual({
      check: 'server extensions',
      status: 'fail',
      detail:
        'jupyterlab_slurm_kernels v0.1.0 disabled; jupyter_server_proxy not installed',
      fix: "jupyter server extension enable jupyterlab_slurm_kernels; pip install jupyter-server-proxy into JupyterLab's environment"
    });
  });

  it('takes a failed validation as not OK', () => {
    const text = [
      '    jupyterlab_slurm_kernels enabled',
      '    - Validating jupyterlab_slurm_kernels...',
      "      X No module named 'jupyterlab_slurm_kernels'"
    ].join('\n');
    expect(parseServerExtension(text, 'jupyterlab_slurm_kernels')).toEqual({
      installed: true,
      enabled: true,
      version: undefined,
      valid: false
    });
  });
});
