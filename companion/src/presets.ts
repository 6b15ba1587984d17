/**
 * Environment presets: named ways to set up a job's environment (modules, conda, venv, init lines),
 * from the site's /etc/slurm-kernels/presets.json and site.json, and the user's
 * ~/.config/slurm-kernels/presets.json (the user's win). Format: {"default": "name", "presets": {"name": {"venv": "/path", ...}}}.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { environmentSchema } from '../../src/api/allocation';
import type { SiteConfig } from '../../src/api/site';
import { loadSiteConfig, SiteConfigError } from './site';

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

/**
 * The presets of the site's presets.json, then of the site configuration (site.json), then of the
 * user's own file: a later one wins, names and default alike.
 */
export async function loadPresets(
  files = presetFiles(),
  site: () => Promise<SiteConfig> = loadSiteConfig
): Promise<{ default?: string; presets: Record<string, Environment> }> {
  const merged: { default?: string; presets: Record<string, Environment> } = {
    presets: {}
  };
  const merge = (found: {
    default?: string;
    presets?: Record<string, Environment>;
  }) => {
    merged.default = found.default ?? merged.default;
    Object.assign(merged.presets, found.presets ?? {});
  };
  const [sitePresets, ...userPresets] = files;
  merge(await readPresetsFile(sitePresets));
  const config = await site().catch(err => {
    throw err instanceof SiteConfigError ? new PresetError(err.message) : err;
  });
  merge({ default: config.defaults?.environment, presets: config.presets });
  for (const file of userPresets) {
    merge(await readPresetsFile(file));
  }
  return merged;
}

async function readPresetsFile(
  file: string | undefined
): Promise<{ default?: string; presets?: Record<string, Environment> }> {
  let text: string;
  try {
    text = await fs.readFile(file ?? '', 'utf8');
  } catch {
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

/** The environment of a preset by name, or the default preset's when no name is given. */
export async function resolvePreset(
  name: string | undefined
): Promise<Environment | undefined> {
  const { default: fallback, presets } = await loadPresets();
  const chosen = name ?? fallback;
  if (chosen === undefined) {
    return undefined;
  }
  const preset = presets[chosen];
  if (!preset) {
    const known = Object.keys(presets).join(', ') || 'none';
    throw new PresetError(
      `no environment preset "${chosen}" (known: ${known})`
    );
  }
  return preset;
}
