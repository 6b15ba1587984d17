/**
 * Reads the site's configuration (src/api/site.ts): `$SLURM_KERNELS_SITE_CONFIG`, else
 * /etc/slurm-kernels/site.json. No file is no configuration; a file that does not parse or fit the
 * schema is an error naming the file and the field, so an admin's typo is never silently ignored.
 */
import { promises as fs } from 'node:fs';
import { SiteConfig, siteConfigSchema } from '../../src/api/site';

export const DEFAULT_SITE_CONFIG = '/etc/slurm-kernels/site.json';

export class SiteConfigError extends Error {}

export function siteConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.SLURM_KERNELS_SITE_CONFIG || DEFAULT_SITE_CONFIG;
}

/** A file's text, undefined where it does not exist: this host's, or the cluster's over SFTP. */
export type ReadText = (file: string) => Promise<string | undefined>;

/** This host's file, undefined where it does not exist. */
export const readLocalText: ReadText = file =>
  fs.readFile(file, 'utf8').catch(err => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  });

/**
 * The site's configuration in `file`, read with `read`: on the login node its own file; from a
 * laptop, the cluster's, over the login (so a laptop follows its cluster's policy).
 */
export async function loadSiteConfig(
  file = siteConfigFile(),
  read: ReadText = readLocalText
): Promise<SiteConfig> {
  let found: string | undefined;
  try {
    found = await read(file);
  } catch (err) {
    throw new SiteConfigError(
      `cannot read the site configuration ${file}: ${(err as Error).message}`
    );
  }
  if (found === undefined) {
    return {};
  }
  const text = found;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SiteConfigError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = siteConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SiteConfigError(
      `${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`
    );
  }
  return parsed.data;
}
