/**
 * ProxyCommand for the login: the user's ssh config names a command whose stdin and stdout carry
 * the connection (`nc -X connect -x proxy:8080 %h %p`, `ssh -W %h:%p bastion`, a site's helper).
 *
 * The config defines it as a shell command line, and OpenSSH runs it through the user's shell:
 * `$SHELL -c "exec COMMAND"`, /bin/sh where SHELL is unset (ssh_config(5): "executed using the
 * user's shell 'exec' directive"; sshconnect.c ssh_proxy_connect). So does this, exactly: the one
 * place the companion hands a string to a shell, since that is the documented meaning of the line
 * (a pipeline, `env VAR=… cmd`, quoting all read as under `ssh`). With `exec`, the shell's pid is
 * the proxy's, and the proxy is hung up by that pid (SIGHUP, as OpenSSH's ssh_kill_proxy_command)
 * when the connection ends: none is left behind.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/** How much of the proxy's stderr is kept for the message when it fails (its last lines). */
const STDERR_KEPT = 2000;

/**
 * Starts `command` (ProxyCommand, its tokens expanded: hostConfig) and returns its stdin and
 * stdout as one stream, ssh2's `sock`. The stream fails, saying how the proxy ended and what it
 * said on stderr, where the proxy exits before the connection is over.
 */
export function proxyCommandStream(
  command: string,
  shell = process.env.SHELL || '/bin/sh'
): Duplex {
  const proxy = spawn(shell, ['-c', `exec ${command}`], {
    stdio: ['pipe', 'pipe', 'pipe']
  });
  let said = '';
  proxy.stderr.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString('utf8')).slice(-STDERR_KEPT);
  });
  let hungUp = false;
  const hangUp = () => {
    hungUp = true;
    if (proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGHUP');
    }
  };
  const stream = new Duplex({
    read: () => proxy.stdout.resume(),
    write: (chunk: Buffer, _encoding, done) =>
      proxy.stdin.write(chunk, () => done()),
    // The connection is over (ssh2 ended it): as OpenSSH, hang the proxy up at once.
    final: done => {
      proxy.stdin.end();
      hangUp();
      done();
    },
    destroy: (err, done) => {
      hangUp();
      done(err);
    }
  });
  // Writes to a proxy that died fail (EPIPE): its exit, below, says why.
  proxy.stdin.on('error', () => undefined);
  proxy.stdout.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) {
      proxy.stdout.pause();
    }
  });
  proxy.once('error', err =>
    stream.destroy(new Error(`cannot run the ProxyCommand: ${err.message}`))
  );
  // The end of the stream waits for the proxy's exit, so that ssh2 hears why first (it also
  // reports a connection lost before the server's hello, and would say only that).
  proxy.once('close', (code, signal) =>
    stream.destroy(
      hungUp
        ? undefined
        : new Error(
            `the ProxyCommand ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${said.trim() ? `: ${said.trim()}` : ''}`
          )
    )
  );
  return stream;
}
