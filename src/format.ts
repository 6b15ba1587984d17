/**
 * Plain-text renderings of cluster values for the UI (never HTML: names come from the cluster).
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Partition } from './api/cluster';

/** Minutes as Slurm prints limits ("8:00:00", "1-00:00:00"), or "no limit". */
export function formatLimit(
  minutes: number | null,
  trans: TranslationBundle
): string {
  if (minutes === null) {
    return trans.__('no limit');
  }
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = String(minutes % 60).padStart(2, '0');
  return days > 0
    ? `${days}-${String(hours).padStart(2, '0')}:${mins}:00`
    : `${hours}:${mins}:00`;
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
