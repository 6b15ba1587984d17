/**
 * The user's defaults, read from the settings registry (schema/plugin.json) in one place.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import { JSONExt, JSONObject } from '@lumino/coreutils';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Cluster } from './api/cluster';
import type { AddClusterInput } from './api/clusters';
import type { Environment } from './formModel';

export interface IDefaults {
  partition: string;
  gres: string;
  time: string;
  cpus: number;
  memory: string;
  account: string;
  qos: string;
  preset: string;
  presets: Record<string, Environment>;
  idleCancelMinutes: number;
  noKernelCancelMinutes: number;
  gpuIdleMinutes: number;
  gpuIdleCancelMinutes: number;
  walltimeWarnings: number[];
  /** Clusters to add to the lab by ssh alias (laptop mode). */
  clusters: AddClusterInput[];
}

export const DEFAULTS: IDefaults = {
  partition: '',
  gres: 'gpu:1',
  time: '1:00:00',
  cpus: 0,
  memory: '',
  account: '',
  qos: '',
  preset: '',
  presets: {},
  idleCancelMinutes: 0,
  noKernelCancelMinutes: 5,
  gpuIdleMinutes: 30,
  gpuIdleCancelMinutes: 0,
  walltimeWarnings: [30, 10, 2],
  clusters: []
};

export function readDefaults(
  settings: ISettingRegistry.ISettings | null
): IDefaults {
  if (!settings) {
    return DEFAULTS;
  }
  const composite = settings.composite as Partial<IDefaults>;
  return { ...DEFAULTS, ...composite };
}

/**
 * The settings schema with the cluster's partitions and GRES offered as choices, so the settings
 * editor shows a list instead of a free text field (a `fetch` transform of the settings registry).
 */
export function withClusterChoices(
  schema: ISettingRegistry.ISchema,
  cluster: Cluster | null,
  trans: TranslationBundle
): ISettingRegistry.ISchema {
  const copy = JSONExt.deepCopy(
    schema as unknown as JSONObject
  ) as unknown as ISettingRegistry.ISchema;
  if (!cluster || !copy.properties) {
    return copy;
  }
  copy.properties.partition = {
    ...copy.properties.partition,
    oneOf: [
      { const: '', title: trans.__('The first partition with GPUs') },
      ...cluster.partitions.map(p => ({
        const: p.name,
        title: trans.__('%1 (%2 GPUs)', p.name, p.gpus.total)
      }))
    ]
  };
  const gres = new Set<string>();
  for (const partition of cluster.partitions) {
    for (const type of partition.gpus.types) {
      for (let n = 1; n <= type.maxPerNode; n++) {
        gres.add(`gpu:${n}`);
        if (type.type) {
          gres.add(`gpu:${type.type}:${n}`);
        }
      }
    }
  }
  copy.properties.gres = {
    ...copy.properties.gres,
    oneOf: [
      { const: '', title: trans.__('No GPU') },
      ...[...gres].sort().map(g => ({ const: g, title: g }))
    ]
  };
  return copy;
}
