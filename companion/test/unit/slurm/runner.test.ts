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

// Streamed commands carry relay steps: against real processes too.
describe('LocalRunner.stream', () => {
  const runner = new LocalRunner();

  function readAll(stream: NodeJS.ReadableStream): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
    });
  }

  it('is a duplex over the child: stdin in, stdout out, to the end', async () => {
    const { stream, exited } = runner.stream(['/bin/cat']);
    const read = readAll(stream);
    stream.end('through the child\n');
    expect(await read).toBe('through the child\n');
    expect((await exited).code).toBe(0);
  });

  it('delivers what a child wrote before it exited, however late it is read', async () => {
    // Within the stream's buffer: the child can end before anything is read.
    const { stream, exited } = runner.stream([
      'python3',
      '-c',
      "import sys; sys.stdout.write('x' * 10000)"
    ]);
    await exited;
    // Read only once the child is gone: nothing of it may be lost.
    expect((await readAll(stream)).length).toBe(10000);
  });

  it('ends its stream with the error given for a child that wrote nothing and failed', async () => {
    const { stream } = runner.stream(
      [
        'python3',
        '-c',
        "import sys; sys.stderr.write('step refused\\n'); sys.exit(1)"
      ],
      {
        failedStart: exit =>
          exit.code === 0
            ? undefined
            : new Error(`did not start: ${exit.stderr.trim()}`)
      }
    );
    await expect(readAll(stream)).rejects.toThrow(
      'did not start: step refused'
    );
  });

  it('lets a child end that its reader dropped (what it writes then is drained, and it is stopped)', async () => {
    const { stream, exited } = runner.stream(['yes']);
    await new Promise(resolve => stream.once('data', resolve));
    stream.destroy();
    const exit = await exited;
    expect(exit.signal ?? exit.code).toBeTruthy();
  });

  it('stops at once a child that never wrote (an srun still waiting for its step)', async () => {
    const command = runner.stream(['sleep', '30']);
    const started = Date.now();
    command.stop();
    expect((await command.exited).signal).toBe('SIGTERM');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
