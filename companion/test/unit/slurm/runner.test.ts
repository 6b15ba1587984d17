import {
  CommandError,
  LocalRunner,
  runChecked
} from '../../../src/slurm/runner';

// The local runner is tested against real processes: it is the boundary itself.
describe('LocalRunner', () => {
  const runner = new LocalRunner();

  it('passes argv without a shell and feeds stdin', async () => {
    const result = await runner.run(['/bin/cat'], {
      input: '$(hostname); `id`'
    });
    expect(result).toEqual({
      code: 0,
      signal: null,
      stdout: '$(hostname); `id`',
      stderr: ''
    });
    const echo = await runner.run(['/bin/echo', 'a;b', '$HOME']);
    expect(echo.stdout).toBe('a;b $HOME\n');
  });

  it("runs Slurm's commands without the user's output settings or an enclosing job's variables", async () => {
    const clean = new LocalRunner({
      PATH: '/usr/bin:/bin',
      HOME: '/home/x',
      SQUEUE_FORMAT: '%i',
      SQUEUE_USERS: 'bob',
      SINFO_SORT: '-P',
      SBATCH_EXPORT: 'ALL',
      SLURM_JOB_ID: '7',
      SLURM_TIME_FORMAT: 'relative',
      SLURM_CONF: '/etc/slurm/other.conf'
    });
    const { stdout } = await clean.run(['/usr/bin/env']);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'HOME=/home/x',
      'PATH=/usr/bin:/bin',
      'SLURM_CONF=/etc/slurm/other.conf',
      'SLURM_TIME_FORMAT=standard'
    ]);
  });

  it('kills a command that runs past its timeout', async () => {
    const started = Date.now();
    await expect(
      runner.run(['/bin/sleep', '30'], { timeoutMs: 200 })
    ).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stops a command when aborted', async () => {
    const controller = new AbortController();
    const pending = runner.run(['/bin/sleep', '30'], {
      signal: controller.signal
    });
    controller.abort();
    await expect(pending).rejects.toThrow(/aborted/);
  });

  it('reports a missing program as a CommandError', async () => {
    await expect(runner.run(['/nonexistent/sbatch'])).rejects.toBeInstanceOf(
      CommandError
    );
  });

  it('turns a non-zero exit into an error carrying stderr', async () => {
    await expect(
      runChecked(runner, ['/bin/sh', '-c', 'echo broken >&2; exit 3'])
    ).rejects.toThrow(/sh failed: broken/);
  });
});
