/**
 * What Slurm knows of one node that the tunnel needs: the address its daemons are reached at.
 */
import type { ICommandRunner } from './runner';

/** The node's NodeAddr (`scontrol show node`), or undefined where Slurm does not say. */
export async function readNodeAddress(
  runner: ICommandRunner,
  node: string
): Promise<string | undefined> {
  const shown = await runner.run([
    'scontrol',
    '--oneliner',
    'show',
    'node',
    node
  ]);
  return shown.code === 0
    ? /\bNodeAddr=(\S+)/.exec(shown.stdout)?.[1]
    : undefined;
}
