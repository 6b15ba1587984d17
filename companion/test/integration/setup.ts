/**
 * The lab side of a test file: a companion and a Jupyter Server of its own, started before its
 * tests and stopped after them, with every allocation cancelled.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Harness } from './harness';
import { JupyterServer } from './jupyter';

export interface ILabSide {
  harness: Harness;
  server: JupyterServer;
}

/** Registers the hooks; `prepare` runs before the companion starts (e.g. to write user presets). */
export function useLabSide(prepare?: (harness: Harness) => void): ILabSide {
  const side = { harness: new Harness() } as ILabSide;
  beforeAll(async () => {
    prepare?.(side.harness);
    await side.harness.startCompanion();
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
