import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ICommandResult } from '../../../src/slurm/runner';
import { readCluster } from '../../../src/slurm';
import { IDoctorContext, once } from '../../../src/doctor/context';
import { fixture } from '../fixtures';
import { FakeRunner } from '../slurm/fake-runner';

/** Slurm as the testbed answers: the real 22.05 output of sinfo and scontrol. */
export function testbedSlurm(argv: readonly string[]): Partial<ICommandResult> {
  if (argv[0] === 'sinfo' && argv[1] === '--version') {
    return { stdout: 'slurm-wlm 22.05.8\n' };
  }
  if (argv[0] === 'sinfo') {
    return { stdout: fixture('sinfo-nodes.txt') };
  }
  if (argv[0] === 'scontrol' && argv.includes('partition')) {
    return { stdout: fixture('scontrol-partitions.txt') };
  }
  if (argv[0] === 'sacctmgr') {
    return { stdout: 'physics|debug,normal\nchemistry|normal\n' };
  }
  return { code: 1, stderr: `unexpected command: ${argv.join(' ')}` };
}

export interface IFakeContext extends IDoctorContext {
  runner: FakeRunner;
  /** A private temp dir for this test's files, removed by cleanUp(). */
  dir: string;
  progressLines: string[];
  cleanUp(): void;
}

/**
 * A context whose commands are answered by `answer`, whose PATH holds `commands` (in /usr/bin), and
 * whose XDG and Jupyter directories are in a temp dir.
 */
export function fakeContext(
  answer: (argv: readonly string[]) => Partial<ICommandResult> = testbedSlurm,
  commands: string[] = [
    'sbatch',
    'squeue',
    'sinfo',
    'scontrol',
    'scancel',
    'sacct',
    'sacctmgr',
    'jupyter'
  ]
): IFakeContext {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sk-doctor-'));
  const runner = new FakeRunner(answer);
  const progressLines: string[] = [];
  return {
    runner,
    dir,
    progressLines,
    env: {
      HOME: dir,
      PATH: '/usr/bin:/bin',
      XDG_STATE_HOME: path.join(dir, 'state'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      JUPYTER_DATA_DIR: path.join(dir, 'jupyter-data')
    },
    user: 'alice',
    uid: os.userInfo().uid,
    which: async command =>
      commands.includes(command) ? `/usr/bin/${command}` : null,
    cluster: once(() => readCluster(runner)),
    presetFiles: [
      path.join(dir, 'site-presets.json'),
      path.join(dir, 'user-presets.json')
    ],
    siteConfigFile: path.join(dir, 'site.json'),
    progress: line => progressLines.push(line),
    cleanUp: () => rmSync(dir, { recursive: true, force: true })
  };
}
