/**
 * The site's configuration: read strictly, merged with the presets files, and applied to what the
 * cluster offers and to requests that leave fields out.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../../src/api/cluster';
import { loadPresets } from '../../../src/presets';
import { asTheSiteOffersIt } from '../../../src/routes/cluster';
import { loadSiteConfig } from '../../../src/site';

const partition = (name: string, isDefault = false) => ({
  name,
  isDefault,
  state: 'UP',
  maxTimeMinutes: null,
  defaultTimeMinutes: null,
  nodes: ['node1'],
  totalCpus: 4,
  gpus: { total: 0, free: 0, types: [] }
});

const cluster: Cluster = {
  partitions: [partition('cpu', true), partition('gpu'), partition('admin')],
  nodes: [
    {
      name: 'node1',
      state: 'idle',
      partitions: ['cpu', 'gpu', 'admin'],
      cpus: { allocated: 0, idle: 4, total: 4 },
      memoryMb: 2000,
      gres: [],
      gresUsed: []
    },
    {
      name: 'adm1',
      state: 'idle',
      partitions: ['admin'],
      cpus: { allocated: 0, idle: 4, total: 4 },
      memoryMb: 2000,
      gres: [],
      gresUsed: []
    }
  ],
  accounts: [],
  qos: [],
  fetchedAt: '2026-12-01T00:00:00Z'
};

describe('the site configuration', () => {
  let dir: string;
  const file = (name: string, content: unknown) => {
    const where = path.join(dir, name);
    writeFileSync(
      where,
      typeof content === 'string' ? content : JSON.stringify(content)
    );
    return where;
  };
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-site-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is empty where there is no file, and an error naming the file and the field where it is wrong', async () => {
    await expect(loadSiteConfig(path.join(dir, 'none.json'))).resolves.toEqual(
      {}
    );
    const typo = file('typo.json', { partitons: ['gpu'] });
    await expect(loadSiteConfig(typo)).rejects.toThrow(
      `${typo}: (top level): Unrecognized key: "partitons"`
    );
    const bad = file('bad.json', { idleCancelMinutes: -5 });
    await expect(loadSiteConfig(bad)).rejects.toThrow(
      `${bad}: idleCancelMinutes:`
    );
    const notJson = file('broken.json', '{"partitions": [');
    await expect(loadSiteConfig(notJson)).rejects.toThrow(
      `${notJson} is not JSON`
    );
  });

  it("offers only the site's partitions, in its order, with its default, and the nodes of those", () => {
    const offered = asTheSiteOffersIt(cluster, {
      partitions: ['gpu', 'cpu'],
      defaults: { partition: 'gpu' },
      idleCancelMinutes: 120,
      gpuIdleCancelMinutes: 60
    });
    expect(offered.partitions.map(p => [p.name, p.isDefault])).toEqual([
      ['gpu', true],
      ['cpu', false]
    ]);
    expect(offered.nodes.map(n => [n.name, n.partitions])).toEqual([
      ['node1', ['cpu', 'gpu']]
    ]);
    expect(offered.site).toEqual({
      partitions: ['gpu', 'cpu'],
      defaults: { partition: 'gpu' },
      idleCancelMinutes: 120,
      noKernelCancelMinutes: null,
      gpuIdleCancelMinutes: 60
    });
    // Without a site default, Slurm's default stays where it is offered.
    expect(
      asTheSiteOffersIt(cluster, { partitions: ['gpu', 'cpu'] })
        .partitions.filter(p => p.isDefault)
        .map(p => p.name)
    ).toEqual(['cpu']);
    expect(asTheSiteOffersIt(cluster, {}).partitions).toHaveLength(3);
  });

  it("merges presets: presets.json, then site.json, then the user's own, a later one winning", async () => {
    const sitePresets = file('presets.json', {
      default: 'old',
      presets: { old: { venv: '/opt/old' }, shared: { venv: '/opt/a' } }
    });
    const userPresets = file('user.json', {
      presets: { mine: { conda: 'torch' } }
    });
    const merged = await loadPresets([sitePresets, userPresets], async () => ({
      defaults: { environment: 'lmod-python' },
      presets: {
        'lmod-python': { modules: ['site-python'], init: [] },
        shared: { venv: '/opt/b', modules: [], init: [] }
      }
    }));
    expect(merged.default).toBe('lmod-python');
    expect(Object.keys(merged.presets).sort()).toEqual([
      'lmod-python',
      'mine',
      'old',
      'shared'
    ]);
    expect(merged.presets.shared.venv).toBe('/opt/b');
  });

  it("reads a cluster's site files with the reader given (a laptop: over the login), the user's here", async () => {
    const there: Record<string, string> = {
      '/etc/slurm-kernels/site.json': JSON.stringify({
        defaults: { partition: 'gpu', environment: 'site-python' }
      }),
      '/etc/slurm-kernels/presets.json': JSON.stringify({
        presets: { 'site-python': { venv: '/opt/site' } }
      })
    };
    const readThere = async (f: string) => there[f];
    const site = await loadSiteConfig(
      '/etc/slurm-kernels/site.json',
      readThere
    );
    expect(site.defaults).toEqual({
      partition: 'gpu',
      environment: 'site-python'
    });
    expect(await loadSiteConfig('/nowhere/site.json', readThere)).toEqual({});
    const userPresets = file('user.json', {
      presets: { mine: { conda: 'torch' } }
    });
    const merged = await loadPresets(
      ['/etc/slurm-kernels/presets.json', userPresets],
      async () => site,
      readThere
    );
    expect(merged.default).toBe('site-python');
    expect(Object.keys(merged.presets).sort()).toEqual(['mine', 'site-python']);
    await expect(
      loadSiteConfig('/etc/slurm-kernels/site.json', async () => {
        throw new Error('Permission denied');
      })
    ).rejects.toThrow(
      'cannot read the site configuration /etc/slurm-kernels/site.json: Permission denied'
    );
  });
});
