/**
 * The clusters a user added from the lab (or with `slurm-kernels serve --cluster`), kept in
 * `$XDG_CONFIG_HOME/slurm-kernels/clusters.json` (0600, written whole): the next lab drives them
 * again, asking each login's code once.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ClusterEntry, clusterEntrySchema } from '../../../src/api/clusters';
import { readJsonIfExists, writePrivateFile } from '../state/files';

const fileSchema = z.object({ clusters: z.array(clusterEntrySchema) });

export class ClusterRegistry {
  constructor(readonly file: string = defaultClustersFile()) {}

  /** The clusters saved; none when the file is missing. A broken file says which and why. */
  async load(): Promise<ClusterEntry[]> {
    let raw: unknown;
    try {
      raw = await readJsonIfExists(this.file);
    } catch (err) {
      throw new Error(`${this.file}: ${(err as Error).message}`);
    }
    if (raw === undefined) {
      return [];
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${this.file}: ${issue.path.join('.') || 'the file'}: ${issue.message}`
      );
    }
    return parsed.data.clusters;
  }

  add(entry: ClusterEntry): Promise<void> {
    return this._change(clusters => [
      ...clusters.filter(c => c.name !== entry.name),
      entry
    ]);
  }

  remove(name: string): Promise<void> {
    return this._change(clusters => clusters.filter(c => c.name !== name));
  }

  /** One change at a time: two at once would each save what it read, and lose the other's. */
  private _change(
    change: (clusters: ClusterEntry[]) => ClusterEntry[]
  ): Promise<void> {
    const next = this._changes.then(async () =>
      this._save(change(await this.load()))
    );
    this._changes = next.catch(() => undefined);
    return next;
  }

  private _changes: Promise<void> = Promise.resolve();

  private async _save(clusters: ClusterEntry[]): Promise<void> {
    await writePrivateFile(
      this.file,
      `${JSON.stringify({ clusters }, null, 1)}\n`
    );
  }
}

/** `$XDG_CONFIG_HOME/slurm-kernels/clusters.json`, by default under ~/.config. */
export function defaultClustersFile(
  env: NodeJS.ProcessEnv = process.env
): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'slurm-kernels', 'clusters.json');
}
