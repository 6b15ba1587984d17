import { buildCluster, parseKeyValues } from '../../../src/slurm/cluster';
import { fixture } from '../fixtures';

describe('buildCluster on real Slurm 22.05 output', () => {
  const cluster = buildCluster(
    fixture('sinfo-nodes.txt'),
    fixture('scontrol-partitions.txt'),
    new Date('2026-11-23T07:35:21Z')
  );

  it('lists both partitions with their limits and the default', () => {
    expect(cluster.partitions.map(p => p.name)).toEqual(['cpu', 'gpu']);
    const [cpu, gpu] = cluster.partitions;
    expect(cpu.isDefault).toBe(true);
    expect(gpu.isDefault).toBe(false);
    expect(cpu.maxTimeMinutes).toBe(1440);
    expect(gpu.maxTimeMinutes).toBe(480);
    expect(gpu.defaultTimeMinutes).toBe(60);
    expect(gpu.nodes).toEqual(['node1', 'node2']);
  });

  it('counts GPUs per partition, minus the one the running job holds', () => {
    const gpu = cluster.partitions[1];
    expect(gpu.gpus).toEqual({
      total: 4,
      free: 3,
      types: [{ type: 'tesla', total: 4, free: 3, maxPerNode: 2 }]
    });
  });

  it('merges the per-partition rows of a node', () => {
    expect(cluster.nodes).toHaveLength(2);
    expect(cluster.nodes[0]).toMatchObject({
      name: 'node1',
      state: 'mixed',
      partitions: ['cpu', 'gpu'],
      cpus: { allocated: 1, idle: 3, total: 4 },
      memoryMb: 2000
    });
  });

  it('gives a drained node no free GPUs', () => {
    const drained = fixture('sinfo-nodes.txt').replace(
      /node2\|(\w+\*?)\|idle/g,
      'node2|$1|drained'
    );
    const c = buildCluster(
      drained,
      fixture('scontrol-partitions.txt'),
      new Date()
    );
    expect(c.partitions[1].gpus.free).toBe(1);
  });
});

describe('parseKeyValues', () => {
  it('keeps spaces inside values', () => {
    const f = parseKeyValues(
      'NodeName=node2 Reason=disk is full [root@2026] State=DRAIN'
    );
    expect(f.get('Reason')).toBe('disk is full [root@2026]');
    expect(f.get('State')).toBe('DRAIN');
  });
});
