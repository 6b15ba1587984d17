/**
 * The request form's values and their checks: the same zod schema and cluster checks the companion
 * applies, so an error shows beside its field while the user types and Submit stays disabled.
 */
import {
  AllocationRequestInput,
  allocationRequestSchema,
  checkAgainstCluster,
  environmentSchema
} from './api/allocation';
import type { Cluster, Partition } from './api/cluster';
import type { z } from 'zod';
import type { IDefaults } from './settings';

export type Environment = z.input<typeof environmentSchema>;

/** What the form holds: text as typed. */
export interface IFormValues {
  partition: string;
  gresType: string;
  gresCount: string;
  time: string;
  cpus: string;
  memory: string;
  account: string;
  qos: string;
  preset: string;
  jobName: string;
}

export type FormField = keyof IFormValues;
export type FormErrors = Partial<Record<FormField, string>>;

/** Presets by name: the site's (from the companion), then the user's own settings, which win. */
export type PresetMap = Record<string, Environment>;

export const NO_GPU = '';
export const ANY_TYPE = '*';

/** Initial values: settings defaults, fitted to what the cluster has. */
export function initialValues(
  defaults: IDefaults,
  cluster: Cluster,
  presets: PresetMap,
  sitePreset?: string
): IFormValues {
  const partition =
    cluster.partitions.find(p => p.name === defaults.partition) ??
    cluster.partitions.find(p => p.gpus.total > 0 && p.isDefault) ??
    cluster.partitions.find(p => p.gpus.total > 0) ??
    cluster.partitions.find(p => p.isDefault) ??
    cluster.partitions[0];
  const gres = splitGres(defaults.gres);
  const preset =
    [defaults.preset, sitePreset ?? '', ...Object.keys(presets)].find(
      name => name && name in presets
    ) ?? '';
  return {
    partition: partition?.name ?? '',
    gresType: gres.count === '' ? NO_GPU : gres.type,
    gresCount: gres.count,
    time: defaults.time,
    cpus: defaults.cpus > 0 ? String(defaults.cpus) : '',
    memory: defaults.memory,
    account: defaults.account,
    qos: defaults.qos,
    preset,
    jobName: ''
  };
}

function splitGres(gres: string): { type: string; count: string } {
  const parts = gres.trim().split(':');
  if (!gres.trim() || parts[0] !== 'gpu') {
    return { type: NO_GPU, count: '' };
  }
  const count = /^\d+$/.test(parts[parts.length - 1])
    ? (parts.pop() as string)
    : '1';
  return {
    type: parts.length > 1 ? parts.slice(1).join(':') : ANY_TYPE,
    count
  };
}

/** The GRES string for Slurm: "" (none), "gpu:2" or "gpu:tesla:2". */
export function gresOf(values: IFormValues): string | undefined {
  if (values.gresType === NO_GPU) {
    return undefined;
  }
  const count = values.gresCount.trim() || '1';
  return values.gresType === ANY_TYPE
    ? `gpu:${count}`
    : `gpu:${values.gresType}:${count}`;
}

export function toRequestInput(
  values: IFormValues,
  presets: PresetMap
): AllocationRequestInput {
  const optional = (text: string) =>
    text.trim() === '' ? undefined : text.trim();
  const cpus = optional(values.cpus);
  return {
    partition: values.partition,
    gres: gresOf(values),
    time: values.time.trim(),
    cpus:
      cpus === undefined
        ? undefined
        : /^\d+$/.test(cpus)
          ? Number(cpus)
          : Number.NaN,
    memory: optional(values.memory),
    account: optional(values.account),
    qos: optional(values.qos),
    jobName: optional(values.jobName),
    environment: values.preset ? presets[values.preset] : undefined
  };
}

/** Request fields map to form fields (gres is shown as type + count). */
const FIELD_OF: Record<string, FormField> = {
  partition: 'partition',
  gres: 'gresCount',
  time: 'time',
  cpus: 'cpus',
  memory: 'memory',
  account: 'account',
  qos: 'qos',
  jobName: 'jobName',
  environment: 'preset'
};

/** The form field showing a request field's problem ("environment.venv" → "preset"). */
export function formFieldOf(
  requestField: string | undefined
): FormField | undefined {
  return requestField ? FIELD_OF[requestField.split('.')[0]] : undefined;
}

/** Every problem of the form, by field: format first, then the cluster's real limits. */
export function validate(
  values: IFormValues,
  cluster: Cluster | null,
  presets: PresetMap
): FormErrors {
  const errors: FormErrors = {};
  if (
    values.gresType !== NO_GPU &&
    !/^[1-9]\d*$/.test(values.gresCount.trim() || '1')
  ) {
    errors.gresCount = 'a whole number of GPUs, at least 1';
  }
  if (values.cpus.trim() && !/^\d+$/.test(values.cpus.trim())) {
    errors.cpus = 'a whole number of CPUs';
  }
  const parsed = allocationRequestSchema.safeParse(
    toRequestInput(values, presets)
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = formFieldOf(String(issue.path[0]));
      if (field && !errors[field]) {
        errors[field] = issue.message;
      }
    }
    return errors;
  }
  if (cluster) {
    const problem = checkAgainstCluster(parsed.data, cluster);
    if (problem) {
      const field = formFieldOf(problem.field);
      if (field && !errors[field]) {
        errors[field] = problem.message;
      }
    }
  }
  return errors;
}

/** GPU types a partition offers, for the type picker. */
export function gpuTypes(partition: Partition | undefined): string[] {
  return (partition?.gpus.types ?? []).map(t => t.type ?? ANY_TYPE);
}

/** The most GPUs of a type (or any type) one node of the partition has. */
export function maxGpus(
  partition: Partition | undefined,
  type: string
): number {
  const types = partition?.gpus.types ?? [];
  const matching =
    type === ANY_TYPE ? types : types.filter(t => t.type === type);
  return matching.reduce((most, t) => Math.max(most, t.maxPerNode), 0);
}
