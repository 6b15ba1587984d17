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
