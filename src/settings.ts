/**
 * The user's defaults, read from the settings registry (schema/plugin.json) in one place.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
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
  walltimeWarnings: number[];
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
  walltimeWarnings: [15, 5]
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
