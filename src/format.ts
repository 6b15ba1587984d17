/**
 * Plain-text renderings of cluster values for the UI (never HTML: names come from the cluster).
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Partition } from './api/cluster';
import { formatSlurmMinutes } from './api/slurmTime';

/** Minutes as Slurm prints limits ("08:00:00", "1-00:00:00"), or "no limit". */
export function formatLimit(
  minutes: number | null,
  trans: TranslationBundle
): string {
  return minutes === null ? trans.__('no limit') : formatSlurmMinutes(minutes);
}

/** "3 of 4 GPUs free (tesla)" or "no GPUs". */
export function formatGpus(
  partition: Partition,
  trans: TranslationBundle
): string {
  const { total, free, types } = partition.gpus;
  if (total === 0) {
    return trans.__('no GPUs');
  }
  const names = types.map(t => t.type ?? trans.__('untyped')).join(', ');
  return trans._n(
    '%2 of %1 GPU free (%3)',
    '%2 of %1 GPUs free (%3)',
    total,
    free,
    names
  );
}

/** The label of a partition in the partition picker. */
export function partitionLabel(
  partition: Partition,
  trans: TranslationBundle
): string {
  const base = partition.isDefault
    ? trans.__('%1 (default)', partition.name)
    : partition.name;
  return trans.__('%1 — %2', base, formatGpus(partition, trans));
}
