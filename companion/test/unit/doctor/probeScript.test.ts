import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { environmentLines } from '../../../src/gateway/jobScript';
import {
  IPresetUnderTest,
  judgeProbe,
  parseProbeOutput,
  probeFinished,
  probeScript
} from '../../../src/doctor/probeScript';

const P = 'slurm-kernels-doctor:';

/** The probe's output for an environment with the given imports and commands. */
function probeOutput(found: {
  gateway?: string;
  server?: string;
  ipykernel?: string;
  commands?: string[];
}): string {
  const commands = found.commands ?? [
    'jupyter',
    ...(found.gateway ? ['jupyter-kernelgateway'] : []),
    ...(found.server ? ['jupyter-server'] : [])
  ];
  const imported = (name: string, version?: string) =>
    `${P} import.${name}=${version ?? `missing ModuleNotFoundError: No module named '${name}'`}`;
  return [
    `${P} host=node1`,
    ...['jupyter', 'jupyter-kernelgateway', 'jupyter-server'].map(
      c => `${P} command.${c}=${commands.includes(c) ? `/env/bin/${c}` : ''}`
    ),
    `${P} python=/env/bin/python3 3.11.2`,
    imported('kernel_gateway', found.gateway),
    imported('ipykernel', found.ipykernel),
    imported('jupyter_server', found.server),
    `${P} exit=0`
  ].join('\n');
}

const preset: IPresetUnderTest = {
  name: 'site-python',
  env: { modules: [], init: [], venv: '/opt/env' }
};

describe('doctor: what the test job found', () => {
  it('is ok with Kernel Gateway and ipykernel', () => {
    const probe = parseProbeOutput(
      probeOutput({ gateway: '3.0.1', server: '2.21.1', ipykernel: '7.4.0' })
    );
    expect(judgeProbe(preset, probe)).toEqual({
      check: 'test job site-python',
      status: 'ok',
      detail:
        'Kernel Gateway 3.0.1 and ipykernel 7.4.0 importable in preset site-python on node1'
    });
  });

  it('warns where only Kernel Gateway is missing: jobs fall back to jupyter server', () => {
    const probe = parseProbeOutput(
      probeOutput({ server: '2.21.1', ipykernel: '7.4.0' })
    );
    expect(judgeProbe(preset, probe)).toEqual({
      check: 'test job site-python',
      status: 'warn',
      detail:
        "Kernel Gateway missing in preset site-python on node1 (No module named 'kernel_gateway'); jobs fall back to `jupyter server` 2.21.1, with ipykernel 7.4.0",
      fix: 'pip install jupyter_kernel_gateway into /opt/env (until then jobs run `jupyter server`, the fallback)'
    });
  });

  it('fails naming each missing package, and what the fallback lacks', () => {
    const probe = parseProbeOutput(probeOutput({}));
    expect(judgeProbe(preset, probe)).toEqual({
      check: 'test job site-python',
      status: 'fail',
      detail:
        "missing in preset site-python on node1: Kernel Gateway (No module named 'kernel_gateway'), ipykernel (No module named 'ipykernel'); jupyter_server, the fallback where only Kernel Gateway is missing, is not there either",
      fix: 'pip install jupyter_kernel_gateway ipykernel into /opt/env'
    });
  });

  it('fails without ipykernel even where jupyter server is there', () => {
    const probe = parseProbeOutput(probeOutput({ server: '2.21.1' }));
    expect(judgeProbe(preset, probe).detail).toMatch(
      /ipykernel \(No module named 'ipykernel'\); `jupyter server` 2\.21\.1, the fallback where only Kernel Gateway is missing, needs ipykernel too$/
    );
  });

  it('fails when Kernel Gateway imports but its command is not on PATH', () => {
    const probe = parseProbeOutput(
      probeOutput({
        gateway: '3.0.1',
        ipykernel: '7.4.0',
        commands: ['jupyter']
      })
    );
    expect(judgeProbe(preset, probe)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(
        'Kernel Gateway (no jupyter-kernelgateway command on PATH)'
      )
    });
  });

  it('fails where the environment has no python3', () => {
    const probe = parseProbeOutput(
      [
        `${P} host=node2`,
        'bash: line 9: python3: command not found',
        `${P} exit=127`
      ].join('\n')
    );
    expect(judgeProbe(preset, probe)).toMatchObject({
      status: 'fail',
      detail:
        'no python3 in preset site-python on node2: bash: line 9: python3: command not found'
    });
  });

  it('names the module that did not load', () => {
    const probe = parseProbeOutput(
      [
        `${P} host=node1`,
        '/var/spool/slurmd/job00042/slurm_script: line 5: module: command not found',
        `${P} exit=20`
      ].join('\n')
    );
    expect(
      judgeProbe(
        { name: 'cuda', env: { modules: ['cuda/12.4'], init: [] } },
        probe
      )
    ).toEqual({
      check: 'test job cuda',
      status: 'fail',
      detail:
        '`module load cuda/12.4` failed in preset cuda on node1: module: command not found',
      fix: 'check the module names with `module avail` on a compute node and fix the preset'
    });
  });

  it('knows when the probe is done: its EXIT trap ran', () => {
    expect(probeFinished(`${P} host=node1\n`)).toBe(false);
    expect(probeFinished(`${P} host=node1\n${P} exit=0\n`)).toBe(true);
  });
});

describe('doctor: the test job script, run by bash', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-probe-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the probe as a login shell, without the final wait for scancel. */
  function runProbe(env: IPresetUnderTest['env']): string {
    // Named as slurmd names a batch script.
    const script = path.join(dir, 'slurm_script');
    writeFileSync(script, probeScript(env).replace('sleep 300', 'true'));
    const run = spawnSync('/bin/bash', ['-l', script], {
      env: { HOME: dir, PATH: '/usr/bin:/bin' },
      encoding: 'utf8'
    });
    return `${run.stdout}${run.stderr}`;
  }

  /** A stand-in venv: fake jupyter commands, Kernel Gateway and ipykernel modules on PYTHONPATH. */
  function fakeVenv(): string {
    const venv = path.join(dir, 'venv');
    mkdirSync(path.join(venv, 'bin'), { recursive: true });
    for (const command of ['jupyter', 'jupyter-kernelgateway']) {
      writeFileSync(path.join(venv, 'bin', command), '#!/bin/sh\n', {
        mode: 0o755
      });
    }
    for (const [name, version] of [
      ['kernel_gateway', '3.0.1'],
      ['ipykernel', '7.4.0']
    ]) {
      mkdirSync(path.join(venv, 'lib', name), { recursive: true });
      writeFileSync(
        path.join(venv, 'lib', name, '__init__.py'),
        `__version__ = "${version}"\n`
      );
    }
    writeFileSync(
      path.join(venv, 'bin', 'activate'),
      `export PATH="${venv}/bin:$PATH" PYTHONPATH="${venv}/lib"\n`
    );
    return venv;
  }

  it("sets the environment up with the job script's own lines", () => {
    const env = {
      modules: ['cuda/12.4'],
      init: ['export A=1'],
      venv: '/opt/env'
    };
    expect(probeScript(env)).toContain(environmentLines(env).join('\n'));
    expect(probeScript(env).startsWith('#!/bin/bash -l\n')).toBe(true);
  });

  it('reports the node, the commands and the versions it imports', () => {
    const venv = fakeVenv();
    const probe = parseProbeOutput(runProbe({ modules: [], init: [], venv }));
    expect(probe.values.get('host')).toBe(os.hostname());
    expect(probe.values.get('command.jupyter-kernelgateway')).toBe(
      path.join(venv, 'bin', 'jupyter-kernelgateway')
    );
    expect(probe.values.get('import.kernel_gateway')).toBe('3.0.1');
    expect(probe.values.get('exit')).toBe('0');
    expect(
      judgeProbe({ name: 'p', env: { modules: [], init: [], venv } }, probe)
    ).toMatchObject({
      status: 'ok',
      detail: `Kernel Gateway 3.0.1 and ipykernel 7.4.0 importable in preset p on ${os.hostname()}`
    });
  });

  it('stops at a venv that does not exist, and says so', () => {
    const venv = path.join(dir, 'no-such-env');
    const env = { modules: [], init: [], venv };
    const probe = parseProbeOutput(runProbe(env));
    expect(probe.values.get('exit')).toBe('22');
    expect(judgeProbe({ name: 'gone', env }, probe)).toEqual({
      check: 'test job gone',
      status: 'fail',
      detail: `the venv ${venv} cannot be activated in preset gone on ${os.hostname()}: ${venv}/bin/activate: No such file or directory`,
      fix: `create it where the nodes see it (python3 -m venv ${venv} && ${venv}/bin/pip install jupyter_kernel_gateway ipykernel) or fix the preset's venv path`
    });
  });
});
