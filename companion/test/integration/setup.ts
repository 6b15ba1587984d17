/**
 * The lab side of a test file: a companion and a Jupyter Server of its own, started before its
 * tests and stopped after them, with every allocation cancelled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Allocation } from '../../../src/api/allocation';
import { Harness, IHarnessOptions, onLaptop } from './harness';
import { JupyterServer } from './jupyter';
import { LOGIN_DOOR, writeLoginDoorConfig } from './testbed';

export interface ILabSide {
  harness: Harness;
  server: JupyterServer;
}

/** Registers the hooks; `prepare` runs before the companion starts (e.g. to write user presets). */
export function useLabSide(
  prepare?: (harness: Harness) => void,
  companionArgs: string[] = [],
  options: IHarnessOptions = {}
): ILabSide {
  const side = { harness: new Harness(options) } as ILabSide;
  beforeAll(async () => {
    prepare?.(side.harness);
    await side.harness.startCompanion(companionArgs);
    const notebooks = path.join(side.harness.dir, 'notebooks');
    mkdirSync(notebooks);
    side.server = await JupyterServer.start(
      side.harness.env,
      notebooks,
      [],
      options.laptop
        ? {
            host: '127.0.0.1',
            socket: path.join(side.harness.dir, 'jupyter.sock'),
            launch: onLaptop
          }
        : undefined
    );
  });
  afterAll(async () => {
    await side.server?.stop();
    await side.harness.cancelEverything().catch(() => undefined);
    await side.harness.stop();
  });
  return side;
}

/**
 * The laptop's ssh config for a harness: the login node's TOTP door by its alias, with an empty
 * known_hosts of the test's own. Returns that known_hosts file.
 */
export function prepareLaptopLogin(harness: Harness): string {
  const knownHosts = laptopKnownHosts(harness);
  writeFileSync(knownHosts, '');
  harness.env.SLURM_KERNELS_SSH_CONFIG = writeLoginDoorConfig(
    harness.dir,
    knownHosts
  );
  return knownHosts;
}

/** The laptop's known_hosts file of a harness prepared by prepareLaptopLogin. */
export const laptopKnownHosts = (harness: Harness) =>
  path.join(harness.dir, 'laptop_known_hosts');

/**
 * A lab and its companion on the testbed's laptop (dev/testbed/laptop.sh: a network that reaches
 * the login node's sshd only, a home of its own), driving the cluster through the TOTP door.
 */
export function useLaptopLab(
  prepare?: (harness: Harness) => void,
  cluster = LOGIN_DOOR.alias
): ILabSide {
  return useLabSide(
    harness => {
      prepareLaptopLogin(harness);
      prepare?.(harness);
    },
    ['--cluster', cluster],
    { laptop: true }
  );
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

/** The name of the allocation's Python kernelspec (slurm-[<cluster>-]<job>-python3). */
export function pythonKernelspec(allocation: Allocation): string {
  const spec = allocation.kernelspecs.find(k => k.name.endsWith('-python3'));
  if (!spec) {
    throw new Error(`job ${allocation.jobId} offers no python3 kernelspec`);
  }
  return spec.name;
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
    kernel: { name: pythonKernelspec(allocation) }
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
