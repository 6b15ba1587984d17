/**
 * Yesterday's state: a companion starts on whatever its predecessors left in the shared state dir.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unusedTransports } from '../fixtures';
import pino from 'pino';
import { Gateway } from '../../../src/allocations/gateway';
import {
  AllocationManager,
  newAllocation,
  validateRequest
} from '../../../src/allocations/manager';
import { KernelspecWriter } from '../../../src/kernelspecs/writer';
import { CachedCluster } from '../../../src/routes/cluster';
import { FakeRunner } from '../slurm/fake-runner';

function saved(dir: string, id: string, state: string, updatedAt: Date) {
  const allocationDir = path.join(dir, 'allocations', id);
  mkdirSync(allocationDir, { recursive: true });
  const allocation = {
    ...newAllocation(
      id,
      validateRequest({ partition: 'cpu', time: '10' }),
      updatedAt
    ),
    jobId: String(id.length),
    state
  };
  writeFileSync(
    path.join(allocationDir, 'record.json'),
    JSON.stringify({ allocation, files: { dir: allocationDir } })
  );
  return allocationDir;
}

describe('starting on an existing state dir', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-init-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('skips a record it cannot read, prunes allocations that ended weeks ago, and keeps the rest', async () => {
    const recent = saved(dir, 'recent', 'ended', new Date());
    const old = saved(
      dir,
      'old',
      'ended',
      new Date(Date.now() - 30 * 86400_000)
    );
    const oldButLive = saved(
      dir,
      'oldlive',
      'pending',
      new Date(Date.now() - 30 * 86400_000)
    );
    const broken = path.join(dir, 'allocations', 'broken');
    mkdirSync(broken);
    writeFileSync(
      path.join(broken, 'record.json'),
      '{"allocation": {"id": "bro'
    );
    const warnings: string[] = [];
    const log = pino({ level: 'silent' });
    const kernelspecs = new KernelspecWriter({
      dataDir: path.join(dir, 'data'),
      shimArgv: ['node', 'shim.js']
    });
    const runner = new FakeRunner(() => ({ stdout: '' }));
    const manager = new AllocationManager({
      runner,
      cluster: new CachedCluster(runner, 0),
      stateDir: dir,
      gateway: new Gateway({
        transports: unusedTransports(),
        kernelspecs,
        log
      }),
      log: { info: () => undefined, warn: (_o, m) => warnings.push(m) },
      fastPollMs: 3_600_000
    });
    try {
      await manager.init();
      expect(
        manager
          .list()
          .map(a => a.id)
          .sort()
      ).toEqual(['oldlive', 'recent']);
      expect(existsSync(old)).toBe(false);
      expect(existsSync(recent) && existsSync(oldButLive)).toBe(true);
      // Left as it is for a person to look at, and said so.
      expect(existsSync(path.join(broken, 'record.json'))).toBe(true);
      expect(warnings).toContain(
        'skipped an allocation record that cannot be read'
      );
    } finally {
      await manager.dispose();
    }
  });
});
