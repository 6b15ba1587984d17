/**
 * nvidia-smi's `--query-gpu` CSV, read as drivers really print it (reference/gpu-awareness.md §3):
 * with or without the header and units; any `[...]` cell (`[N/A]`, `[Not Supported]`, the 590+
 * drivers' deprecation text), `N/A` or `-` is "no value", never 0 (utilisation on MIG reads `[N/A]`).
 */

/** What the sampler asks for, in this order. */
export const SAMPLE_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'utilization.memory',
  'temperature.gpu',
  'power.draw'
] as const;

/** What the binding check asks for once, at start. */
export const DEVICE_FIELDS = [
  'index',
  'uuid',
  'pci.bus_id',
  'name',
  'memory.total'
] as const;

/** nvidia-smi ran but could not read the GPUs (driver mismatch, no driver in reach). */
export class NvidiaSmiError extends Error {}

export interface IGpuDevice {
  index: number;
  uuid: string;
  busId: string | null;
  name: string;
  memoryTotalMiB: number | null;
}

export interface IGpuSample {
  index: number;
  uuid: string;
  name: string;
  memoryTotalMiB: number | null;
  memoryUsedMiB: number | null;
  /** Percent; null where the GPU does not say (MIG), which is not idle. */
  utilizationGpu: number | null;
  utilizationMemory: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

/** Lines nvidia-smi prints instead of CSV when it cannot read the GPUs. */
const FAILURES = [/^Failed to initialize NVML/, /^NVIDIA-SMI has failed/];

/** A cell that carries no value. */
export function isNoValue(cell: string): boolean {
  const c = cell.trim();
  return (
    c === '' ||
    c === '-' ||
    c === 'N/A' ||
    c === 'Not Supported' ||
    /^\[.*\]$/.test(c)
  );
}

/** A number, its unit (` MiB`, ` %`, ` W`) dropped; null for no value or anything else. */
export function numberOf(cell: string): number | null {
  if (isNoValue(cell)) {
    return null;
  }
  const match = /^(-?\d+(?:\.\d+)?)(?:\s*(?:MiB|%|W|C))?$/.exec(cell.trim());
  return match ? Number(match[1]) : null;
}

/**
 * The rows of a `--query-gpu` output as cells by field. `No devices were found` is no rows; the
 * lines of a failure throw an NvidiaSmiError with nvidia-smi's own words.
 */
export function parseQuery<F extends string>(
  text: string,
  fields: readonly F[]
): Array<Record<F, string>> {
  const lines = text
    .split('\n')
    .map(line => line.trim())
    .filter(Boolean);
  const failure = lines.find(line => FAILURES.some(f => f.test(line)));
  if (failure) {
    throw new NvidiaSmiError(failure);
  }
  return lines
    .filter(line => !/^No devices were found/.test(line))
    .filter(line => !line.startsWith(`${fields[0]},`)) // the header, where it was not left out
    .map(line => line.split(',').map(cell => cell.trim()))
    .filter(cells => cells.length === fields.length)
    .map(cells =>
      Object.fromEntries(fields.map((f, i) => [f, cells[i]]))
    ) as Array<Record<F, string>>;
}

/** The GPUs the binding check lists. */
export function parseDevices(text: string): IGpuDevice[] {
  return parseQuery(text, DEVICE_FIELDS).map(row => ({
    index: numberOf(row.index) ?? -1,
    uuid: row.uuid,
    busId: isNoValue(row['pci.bus_id']) ? null : row['pci.bus_id'],
    name: row.name,
    memoryTotalMiB: numberOf(row['memory.total'])
  }));
}

/** One sample per GPU, as the sampler prints them. */
export function parseSamples(text: string): IGpuSample[] {
  return parseQuery(text, SAMPLE_FIELDS).map(row => ({
    index: numberOf(row.index) ?? -1,
    uuid: row.uuid,
    name: row.name,
    memoryTotalMiB: numberOf(row['memory.total']),
    memoryUsedMiB: numberOf(row['memory.used']),
    utilizationGpu: numberOf(row['utilization.gpu']),
    utilizationMemory: numberOf(row['utilization.memory']),
    temperatureC: numberOf(row['temperature.gpu']),
    powerW: numberOf(row['power.draw'])
  }));
}
