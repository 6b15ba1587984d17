/**
 * The Python modules the gateway's configuration imports, copied beside it in the job: the one that
 * gives kernel websockets TCP_NODELAY and zero-copy output (jupyterlab_slurm_kernels/kernel_ws.py,
 * which the user's Jupyter Server imports from the package too: one file, two servers), and the
 * one that reports the job's GPUs (jupyterlab_slurm_kernels/gpus.py).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { COMPANION_DIR } from '../paths';

/** Each module's name in the job (what the configuration imports), and its file in the package. */
export const GATEWAY_MODULES = {
  slurm_kernels_ws: 'kernel_ws.py',
  slurm_kernels_gpus: 'gpus.py'
} as const;

export type GatewayModuleName = keyof typeof GATEWAY_MODULES;

/** Every module's source, by its name in the job. */
export async function readGatewayModules(
  from = COMPANION_DIR
): Promise<Map<GatewayModuleName, string>> {
  const names = Object.keys(GATEWAY_MODULES) as GatewayModuleName[];
  const sources = await Promise.all(
    names.map(name => readPackageFile(GATEWAY_MODULES[name], from))
  );
  return new Map(names.map((name, i) => [name, sources[i]]));
}

/**
 * A file of the Python package, found above the companion: in a source checkout
 * (companion/dist/companion/src/ → jupyterlab_slurm_kernels/) and in an installed wheel, whose
 * bundle sits inside the package (site-packages/jupyterlab_slurm_kernels/companion/: two levels
 * up, site-packages/ holds jupyterlab_slurm_kernels/).
 */
async function readPackageFile(file: string, from: string): Promise<string> {
  const relative = path.join('jupyterlab_slurm_kernels', file);
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      return await fs.readFile(path.join(dir, relative), 'utf8');
    } catch {
      // not at this level
    }
  }
  throw new Error(
    `${relative} was not found in any directory above ${from}; the companion needs it for the gateway`
  );
}
