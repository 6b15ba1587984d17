/**
 * Identifiers shared by the plugins of jupyterlab-slurm-kernels.
 */

/** The settings plugin id (schema/plugin.json). */
export const PLUGIN_ID = 'jupyterlab-slurm-kernels:plugin';

/** The path under Jupyter Server's base URL where jupyter-server-proxy serves the companion. */
export const COMPANION_PATH = 'slurm-kernels';

/** The translation domain. */
export const TRANSLATION_DOMAIN = 'jupyterlab_slurm_kernels';

export namespace CommandIDs {
  export const openRequestPanel = 'slurm-kernels:open-request-panel';
}
