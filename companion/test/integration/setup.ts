/**
 * The lab side of a test file: a companion and a Jupyter Server of its own, started before its
 * tests and stopped after them, with every allocation cancelled.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { Harness } from './harness';
import { JupyterServer } from './jupyter';

export interface ILabSide {
  harness: Harness;
  server: JupyterServer;
}

/** Registers the hooks; `prepare` runs before the companion starts (e.g. to write user presets). */
export function useLabSide(
  prepare?: (harness: Harness) => void,
  companionArgs: string[] = []
): ILabSide {
  const side = { harness: new Harness() } as ILabSide;
  beforeAll(async () => {
    prepare?.(side.harness);
    await side.harness.startCompanion(companionArgs);
    const notebooks = path.join(side.harness.dir, 'notebooks');
    mkdirSync(notebooks);
    side.server = await JupyterServer.start(side.harness.env, notebooks);
  });
  afterAll(async () => {
    await side.server?.stop();
    await side.harness.cancelEverything().catch(() => undefined);
    await side.harness.stop();
  });
  return side;
}

/** The allocation as the companion lists it now. */
export async function currentOf(
  side: ILabSide,
  allocation: Allocation
): Promise<Allocation> {
  const found = (await side.harness.list()).find(a => a.id === allocation.id);
  if (!found) {
    throw new Error(`allocation ${allocation.id} is not listed`);
  }
  return found;
}

/** A notebook session on the allocation's Python kernel, with `x = 1` run in it. */
export async function notebookOn(
  side: ILabSide,
  allocation: Allocation,
  name: string
) {
  const session = await side.server.json('POST', '/api/sessions', {
    path: `${name}.ipynb`,
    name: `${name}.ipynb`,
    type: 'notebook',
    kernel: { name: `slurm-${allocation.jobId}-python3` }
  });
  const channel = await side.server.connect(session.kernel.id);
  expect((await channel.execute('x = 1')).reply.status).toBe('ok');
  return { session, channel };
}

/** A notebook's kernel on `allocation` says where it runs; its session stays, its channel closes. */
export async function hostnameOfKernel(
  side: ILabSide,
  allocation: Allocation,
  name: string
) {
  const { session, channel } = await notebookOn(side, allocation, name);
  try {
    const { stdout } = await channel.execute(
      'import socket; print(socket.gethostname())'
    );
    return { session, hostname: stdout.trim() };
  } finally {
    channel.close();
  }
}
