import { execFileSync } from 'node:child_process';
import { remoteCommand } from '../../../src/login/remoteRunner';

/** Words a user may type, and what a shell would make of them unquoted. */
const TRICKY = [
  'plain',
  'two words',
  "it's",
  '$(touch /tmp/never)',
  '`id`',
  '*',
  '"double"',
  'back\\slash',
  'ends with a backslash\\',
  '\\n is not a newline, \\c is not the end',
  'two\nlines\n\n',
  '',
  '--partition=gpu;rm -rf ~'
];

/** Runs the exec string as sshd would: the login shell's `-c STRING`. */
function asLoginShell(shell: string, command: string, env: NodeJS.ProcessEnv) {
  return execFileSync(shell, ['-c', command], { env, encoding: 'utf8' });
}

describe('Slurm commands on the login node, as one exec string', () => {
  const env = {
    PATH: '/usr/bin:/bin',
    SQUEUE_FORMAT: '%i',
    SLURM_TIME_FORMAT: 'relative',
    SBATCH_EXPORT: 'ALL',
    SLURM_JOB_ID: '7',
    SLURM_CONF: '/etc/slurm/other.conf',
    HOME: '/home/alice'
  };

  it.each(['/bin/sh', '/bin/bash'])(
    'reaches the command word for word under %s',
    shell => {
      const printed = asLoginShell(
        shell,
        remoteCommand(['printf', '[%s]\\n', ...TRICKY]),
        env
      );
      expect(printed).toBe(TRICKY.map(word => `[${word}]\n`).join(''));
    }
  );

  it("clears the user's Slurm client variables, keeps SLURM_CONF, and asks for ISO times", () => {
    const printed = asLoginShell('/bin/sh', remoteCommand(['env']), env);
    const names = printed
      .split('\n')
      .filter(line => /^S/.test(line))
      .sort();
    expect(names).toEqual([
      'SLURM_CONF=/etc/slurm/other.conf',
      'SLURM_TIME_FORMAT=standard'
    ]);
  });

  it('carries newlines without putting one in the exec string (a csh login shell cannot quote one)', () => {
    expect(remoteCommand(['python3', '-c', 'a\nb'])).not.toContain('\n');
  });

  it('adds the variables it is given after clearing the Slurm ones', () => {
    const printed = asLoginShell(
      '/bin/sh',
      remoteCommand(['env'], { SLURM_KERNELS_X: 'a b', SRUN_DEBUG: '1' }),
      env
    );
    expect(printed).toMatch(/^SLURM_KERNELS_X=a b$/m);
    expect(printed).toMatch(/^SRUN_DEBUG=1$/m);
  });
});
