/**
 * Cluster data shaped like the testbed's (two nodes with gpu:tesla:2), shared by the specs.
 */
import { nullTranslator } from '@jupyterlab/translation';
import type { Cluster, Partition } from '../api/cluster';

export const trans = nullTranslator.load('jupyterlab_slurm_kernels');

/** The gpu partition with 3 of its 4 GPUs free; overrides change any field. */
export function gpuPartition(overrides: Partial<Partition> = {}): Partition {
  return {
    name: 'gpu',
    isDefault: false,
    state: 'UP',
    maxTimeMinutes: 480,
    defaultTimeMinutes: 60,
    nodes: ['node1', 'node2'],
    totalCpus: 8,
    gpus: {
      total: 4,
      free: 3,
      types: [{ type: 'tesla', total: 4, free: 3, maxPerNode: 2 }]
    },
    ...overrides
  };
}

/** The default cpu partition, without GPUs. */
export function cpuPartition(): Partition {
  return gpuPartition({
    name: 'cpu',
    isDefault: true,
    maxTimeMinutes: 1440,
    gpus: { total: 0, free: 0, types: [] }
  });
}

export function clusterOf(partitions: Partition[]): Cluster {
  return {
    partitions,
    nodes: [],
    accounts: [],
    qos: [],
    fetchedAt: '2026-11-23T07:00:00.000Z'
  };
}
