/**
 * The Python module that gives kernel websockets TCP_NODELAY and zero-copy output, and makes each
 * output cross ZMQ once (jupyterlab_slurm_kernels/kernel_ws.py). The user's Jupyter Server imports
 * it from the package; the gateway in the job gets a copy beside its configuration. One file, two
 * servers.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { COMPANION_DIR } from '../paths';

const MODULE = path.join('jupyterlab_slurm_kernels', 'kernel_ws.py');

/**
 * Its source, found above the companion: in a source checkout (companion/dist/companion/src/ →
 * jupyterlab_slurm_kernels/) and in an installed wheel, whose bundle sits inside the package
 * (site-packages/jupyterlab_slurm_kernels/companion/: two levels up, site-packages/ holds
 * jupyterlab_slurm_kernels/kernel_ws.py).
 */
export async function readKernelWsModule(
  from = COMPANION_DIR
): Promise<string> {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      return await fs.readFile(path.join(dir, MODULE), 'utf8');
    } catch {
      // not at this level
    }
  }
  throw new Error(
    `${MODULE} was not found in any directory above ${from}; the companion needs it for the gateway`
  );
}
