/**
 * Slurm time limits: every format `sbatch --time` accepts, and what `scontrol`/`sinfo` print.
 *
 * Accepted: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
 * "days-hours:minutes", "days-hours:minutes:seconds" (sbatch(1), --time), plus UNLIMITED/INFINITE.
 */
const FORMATS: ReadonlyArray<[RegExp, (m: number[]) => number]> = [
  [/^(\d+)$/, ([min]) => min * 60],
  [/^(\d+):(\d+)$/, ([min, s]) => min * 60 + s],
  [/^(\d+):(\d+):(\d+)$/, ([h, min, s]) => h * 3600 + min * 60 + s],
  [/^(\d+)-(\d+)$/, ([d, h]) => d * 86400 + h * 3600],
  [/^(\d+)-(\d+):(\d+)$/, ([d, h, min]) => d * 86400 + h * 3600 + min * 60],
  [
    /^(\d+)-(\d+):(\d+):(\d+)$/,
    ([d, h, min, s]) => d * 86400 + h * 3600 + min * 60 + s
  ]
];

const UNLIMITED = new Set(['UNLIMITED', 'INFINITE']);

/**
 * Parses a Slurm time limit into whole minutes, rounded up as Slurm does.
 *
 * #### Notes
 * Returns `null` for UNLIMITED/INFINITE and `undefined` for anything that is not a Slurm time
 * (including NONE and N/A), so callers can tell "no limit" from "not a time".
 */
export function parseSlurmMinutes(text: string): number | null | undefined {
  const value = text.trim();
  if (UNLIMITED.has(value.toUpperCase())) {
    return null;
  }
  for (const [pattern, toSeconds] of FORMATS) {
    const match = pattern.exec(value);
    if (match) {
      return Math.ceil(toSeconds(match.slice(1).map(Number)) / 60);
    }
  }
  return undefined;
}

/**
 * Formats minutes the way Slurm prints limits: "D-HH:MM:SS" or "HH:MM:SS".
 */
export function formatSlurmMinutes(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  const hms = `${pad(hours)}:${pad(mins)}:00`;
  return days > 0 ? `${days}-${hms}` : hms;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
