/**
 * Plain-text renderings of cluster values for the UI (never HTML: names come from the cluster).
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Allocation, AllocationGpus } from './api/allocation';
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

/** "1 h 05 min", "12 min", or "no limit". */
export function timeLeft(
  allocation: Allocation,
  trans: TranslationBundle,
  now = Date.now()
): string {
  if (!allocation.endTime) {
    return trans.__('no limit');
  }
  const minutes = Math.max(
    0,
    Math.floor((Date.parse(allocation.endTime) - now) / 60_000)
  );
  return minutes >= 60
    ? trans.__(
        '%1 h %2 min',
        Math.floor(minutes / 60),
        String(minutes % 60).padStart(2, '0')
      )
    : trans.__('%1 min', minutes);
}

/** An ISO time as the user's clock shows it (hours and minutes). */
export function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit'
  });
}

/** What the job reported, as it reported it. */
export function gpuEvidenceText(gpus: AllocationGpus): string {
  const env = Object.entries(gpus.evidence.environment).map(
    ([name, value]) => `${name}=${value === null ? '(unset)' : value}`
  );
  return [
    gpus.evidence.node ? `node: ${gpus.evidence.node}` : '',
    ...env,
    'nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total:',
    gpus.evidence.nvidiaSmi.trim() || '(nothing)'
  ]
    .filter(Boolean)
    .join('\n');
}
