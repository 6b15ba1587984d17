/** A real ssh-agent for a test: unit and integration tests alike. */
import { execFileSync, spawn } from 'node:child_process';

export interface ITestAgent {
  socket: string;
  /** Ends the agent (by its pid). */
  stop(): void;
}

/**
 * Starts `ssh-agent` on `socket` (in the foreground, so its pid is the child's) and adds `keys`
 * to it as `ssh-add` does: each key's `-cert.pub` beside it goes in too.
 */
export async function startSshAgent(
  socket: string,
  keys: string[]
): Promise<ITestAgent> {
  const agent = spawn('ssh-agent', ['-D', '-a', socket], {
    stdio: ['ignore', 'pipe', 'ignore']
  });
  const stop = () => {
    if (agent.pid && agent.exitCode === null) {
      process.kill(agent.pid);
    }
  };
  try {
    // In the foreground it prints its environment once the socket listens.
    await new Promise((resolve, reject) => {
      agent.stdout.once('data', resolve);
      agent.once('error', reject);
      agent.once('exit', code =>
        reject(new Error(`ssh-agent exited (${code})`))
      );
    });
    execFileSync('ssh-add', keys, {
      env: { ...process.env, SSH_AUTH_SOCK: socket },
      stdio: 'ignore'
    });
  } catch (err) {
    stop();
    throw err;
  }
  return { socket, stop };
}
