/**
 * Environment presets: named ways to set up a job's environment (modules, conda, venv, init lines),
 * from the site's /etc/slurm-kernels/presets.json and site.json, and the user's
 * ~/.config/slurm-kernels/presets.json (the user's win). Format: {"default": "name", "presets": {"name": {"venv": "/path", ...}}}.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { environmentSchema } from '../../src/api/allocation';
import type { SiteConfig } from '../../src/api/site';
import {
  loadSiteConfig,
  ReadText,
  readLocalText,
  SiteConfigError
} from './site';

/** A presets file that cannot be used, or an unknown preset; the message says which. */
export class PresetError extends Error {}

const presetsFileSchema = z.object({
  default: z.string().optional(),
  presets: z.record(z.string(), environmentSchema)
});

export type Environment = z.output<typeof environmentSchema>;

export function presetFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const userConfig = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return [
    '/etc/slurm-kernels/presets.json',
    path.join(userConfig, 'slurm-kernels', 'presets.json')
  ];
}

/** The presets known, and the default one's name. */
export interface IPresets {
  default?: string;
  presets: Record<string, Environment>;
}

/**
 * The presets of the site's presets.json, then of the site configuration (site.json), then of the
 * user's own file: a later one wins, names and default alike. The site's file is read with
 * `readSite` (from a laptop: the cluster's, over the login); the user's where the lab runs.
 */
export async function loadPresets(
  files = presetFiles(),
  site: () => Promise<SiteConfig> = loadSiteConfig,
  readSite: ReadText = readLocalText
): Promise<IPresets> {
  const merged: IPresets = { presets: {} };
  const merge = (found: {
    default?: string;
    presets?: Record<string, Environment>;
  }) => {
    merged.default = found.default ?? merged.default;
    Object.assign(merged.presets, found.presets ?? {});
  };
  const [sitePresets, ...userPresets] = files;
  merge(await readPresetsFile(sitePresets, readSite));
  const config = await site().catch(err => {
    throw err instanceof SiteConfigError ? new PresetError(err.message) : err;
  });
  merge({ default: config.defaults?.environment, presets: config.presets });
  for (const file of userPresets) {
    merge(await readPresetsFile(file, readLocalText));
  }
  return merged;
}

async function readPresetsFile(
  file: string | undefined,
  read: ReadText
): Promise<{ default?: string; presets?: Record<string, Environment> }> {
  const text = file ? await read(file).catch(() => undefined) : undefined;
  if (text === undefined) {
    return {};
  }
  const parsed = presetsFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new PresetError(
      `${file}: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`
    );
  }
  return parsed.data;
}

/**
 * The environment of a preset by name, or the default preset's when no name is given, among
 * `known` (what the companion serves: its cluster's site presets and the user's).
 */
export function pickPreset(
  known: IPresets,
  name: string | undefined
): Environment | undefined {
  const { default: fallback, presets } = known;
  const chosen = name ?? fallback;
  if (chosen === undefined) {
    return undefined;
  }
  const preset = presets[chosen];
  if (!preset) {
    const names = Object.keys(presets).join(', ') || 'none';
    throw new PresetError(
      `no environment preset "${chosen}" (known: ${names})`
    );
  }
  return preset;
}
