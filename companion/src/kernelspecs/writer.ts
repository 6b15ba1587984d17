/**
 * Publishes each remote kernelspec of a ready allocation as an ordinary local kernelspec, so Jupyter
 * Server lists it and JupyterLab shows it in the kernel picker. Its argv runs the shim, which hands
 * the connection file to the companion. Removed when the allocation ends; stale ones are swept.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KernelspecRef, parseGresRequest } from '../../../src/api/allocation';
import { ensurePrivateDir } from '../state/files';

/** Marks a kernelspec as ours in its metadata, so a sweep never touches anybody else's. */
export const METADATA_KEY = 'slurm_kernels';
const PREFIX = 'slurm-';
const REMOTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface IRemoteSpecToPublish {
  remoteName: string;
  displayName: string;
  language: string;
  /** Logo files by name (logo-64x64.png, logo-svg.svg…). */
  logos: Record<string, Buffer>;
}

export interface IAllocationLabel {
  allocationId: string;
  jobId: string;
  node: string;
  /** e.g. "2× tesla", "1× GPU", "CPU only". */
  gresLabel: string;
}

export interface IKernelspecMetadata {
  /** The cluster of the lab it runs on (laptop mode); absent for the login node's own. */
  cluster?: string;
  allocationId: string;
  jobId: string;
  remoteName: string;
  node: string;
}

export class KernelspecWriter {
  constructor(
    private readonly _options: {
      /** Jupyter's user data dir; kernelspecs go in its kernels/ folder. */
      dataDir?: string;
      /** argv prefix that starts the shim, e.g. [node, /path/shim.js, --socket, PATH]. */
      shimArgv: string[];
      /**
       * The cluster this writer publishes for, where a lab drives several (laptop mode): in the
       * names (job ids repeat across clusters), the display names and the metadata. A writer
       * sweeps and removes only its own cluster's kernelspecs.
       */
      cluster?: string;
    }
  ) {}

  get kernelsDir(): string {
    return path.join(
      this._options.dataDir ?? defaultJupyterDataDir(),
      'kernels'
    );
  }

  specName(jobId: string, remoteName: string): string {
    const cluster = this._options.cluster;
    return `${PREFIX}${cluster ? `${cluster}-` : ''}${jobId}-${remoteName}`;
  }

  async publish(
    label: IAllocationLabel,
    specs: IRemoteSpecToPublish[]
  ): Promise<KernelspecRef[]> {
    const refs: KernelspecRef[] = [];
    for (const spec of specs) {
      if (!REMOTE_NAME.test(spec.remoteName)) {
        continue; // a name Jupyter could not route ([\w.-%]+): not published
      }
      const name = this.specName(label.jobId, spec.remoteName);
      const cluster = this._options.cluster;
      const where = cluster ? `${cluster} · ${label.node}` : label.node;
      const displayName = `${spec.displayName} · ${where} · ${label.gresLabel} · job ${label.jobId}`;
      const metadata: IKernelspecMetadata = {
        ...(cluster ? { cluster } : {}),
        allocationId: label.allocationId,
        jobId: label.jobId,
        remoteName: spec.remoteName,
        node: label.node
      };
      const dir = path.join(this.kernelsDir, name);
      const tmp = `${dir}.tmp-${process.pid}`;
      await fs.rm(tmp, { recursive: true, force: true });
      await ensurePrivateDir(tmp);
      for (const [file, bytes] of Object.entries(spec.logos)) {
        if (/^logo-[A-Za-z0-9x.-]+$/.test(file)) {
          await fs.writeFile(path.join(tmp, file), bytes, { mode: 0o600 });
        }
      }
      const kernelJson = {
        argv: [...this._options.shimArgv, '--spec', name, '{connection_file}'],
        display_name: displayName,
        language: spec.language,
        interrupt_mode: 'message',
        metadata: { [METADATA_KEY]: metadata }
      };
      await fs.writeFile(
        path.join(tmp, 'kernel.json'),
        JSON.stringify(kernelJson, null, 1),
        { mode: 0o600 }
      );
      // Jupyter rescans the folder on every listing: it must never see a half-written spec.
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(tmp, dir);
      refs.push({ name, displayName, language: spec.language });
    }
    return refs;
  }

  /** Removes every kernelspec of a job. */
  async removeJob(jobId: string): Promise<void> {
    for (const entry of await this._ours()) {
      if (entry.metadata.jobId === jobId) {
        await removeWhole(entry.dir);
      }
    }
  }

  /** Removes our kernelspecs whose allocation is not among `liveAllocationIds` (left by a crash). */
  async sweep(liveAllocationIds: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of await this._ours()) {
      if (!liveAllocationIds.has(entry.metadata.allocationId)) {
        await removeWhole(entry.dir);
        removed.push(path.basename(entry.dir));
      }
    }
    return removed;
  }

  /** Reads the metadata of one of this cluster's kernelspecs, by name. */
  async read(name: string): Promise<IKernelspecMetadata | undefined> {
    return (await this._ours()).find(e => path.basename(e.dir) === name)
      ?.metadata;
  }

  /** This cluster's kernelspecs (another cluster's are never swept by this one). */
  private async _ours(): Promise<
    Array<{ dir: string; metadata: IKernelspecMetadata }>
  > {
    return (await ourKernelspecs(this.kernelsDir)).filter(
      e => e.metadata.cluster === this._options.cluster
    );
  }
}

/**
 * Removes a kernelspec at once: renamed first to a name Jupyter does not take for a kernelspec
 * ("~" is not allowed in one), so no listing sees it half removed, then deleted.
 */
async function removeWhole(dir: string): Promise<void> {
  const gone = path.join(
    path.dirname(dir),
    `~removed-${path.basename(dir)}-${randomUUID()}`
  );
  try {
    await fs.rename(dir, gone);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return; // removed already (another companion of a shared home)
    }
    throw err;
  }
  await fs.rm(gone, { recursive: true, force: true });
}

/** The metadata of one of our kernelspecs, of any cluster, by name (the hub routes shims so). */
export async function readOurKernelspec(
  kernelsDir: string,
  name: string
): Promise<IKernelspecMetadata | undefined> {
  return (await ourKernelspecs(kernelsDir)).find(
    e => path.basename(e.dir) === name
  )?.metadata;
}

/** Every kernelspec of ours in `kernelsDir`, whatever cluster it is for. */
async function ourKernelspecs(
  kernelsDir: string
): Promise<Array<{ dir: string; metadata: IKernelspecMetadata }>> {
  let names: string[];
  try {
    names = await fs.readdir(kernelsDir);
  } catch {
    return [];
  }
  const found: Array<{ dir: string; metadata: IKernelspecMetadata }> = [];
  for (const name of names.filter(n => n.startsWith(PREFIX))) {
    const dir = path.join(kernelsDir, name);
    try {
      const spec = JSON.parse(
        await fs.readFile(path.join(dir, 'kernel.json'), 'utf8')
      );
      const metadata = spec?.metadata?.[METADATA_KEY];
      if (
        metadata &&
        typeof metadata.jobId === 'string' &&
        typeof metadata.allocationId === 'string'
      ) {
        found.push({ dir, metadata });
      }
    } catch {
      // not a kernelspec of ours (or half-deleted): leave it alone
    }
  }
  return found;
}

/** Jupyter's user data dir: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter. */
export function defaultJupyterDataDir(
  env: NodeJS.ProcessEnv = process.env
): string {
  if (env.JUPYTER_DATA_DIR) {
    return env.JUPYTER_DATA_DIR;
  }
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'jupyter');
}

/** "2× tesla", "1× GPU", "CPU only" from a GRES request. */
export function gresLabel(gres: string | undefined): string {
  const parsed = gres ? parseGresRequest(gres) : undefined;
  if (!parsed) {
    return 'CPU only';
  }
  const type = parsed.type ?? (parsed.name === 'gpu' ? 'GPU' : parsed.name);
  return `${parsed.count}× ${type}`;
}
