import type { Partition } from '../api/cluster';
import { formatGpus, formatLimit, partitionLabel } from '../format';
import { gpuPartition, trans } from './fixtures';

const partition = (overrides: Partial<Partition> = {}) =>
  gpuPartition(overrides);

describe('format', () => {
  it('prints time limits as Slurm does', () => {
    expect(formatLimit(480, trans)).toBe('08:00:00');
    expect(formatLimit(1590, trans)).toBe('1-02:30:00');
    expect(formatLimit(null, trans)).toBe('no limit');
  });

  it('says how many GPUs are free, with plural forms', () => {
    expect(formatGpus(partition(), trans)).toBe('3 of 4 GPUs free (tesla)');
    const one = partition({
      gpus: {
        total: 1,
        free: 0,
        types: [{ type: null, total: 1, free: 0, maxPerNode: 1 }]
      }
    });
    expect(formatGpus(one, trans)).toBe('0 of 1 GPU free (untyped)');
    expect(
      formatGpus(partition({ gpus: { total: 0, free: 0, types: [] } }), trans)
    ).toBe('no GPUs');
  });

  it('marks the default partition in the picker', () => {
    expect(
      partitionLabel(partition({ name: 'cpu', isDefault: true }), trans)
    ).toBe('cpu (default) — 3 of 4 GPUs free (tesla)');
  });
});
