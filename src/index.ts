/**
 * jupyterlab-slurm-kernels: GPU kernels on a Slurm cluster, straight from JupyterLab.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { gpuIcon } from './icons';
import { CommandIDs, PLUGIN_ID, TRANSLATION_DOMAIN } from './tokens';
import type { RequestPanel } from './widgets/RequestPanel';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Request GPU allocations on a Slurm cluster and use their kernels from JupyterLab.',
  autoStart: true,
  optional: [ILauncher, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    let panel: MainAreaWidget<RequestPanel> | null = null;

    app.commands.addCommand(CommandIDs.openRequestPanel, {
      label: trans.__('GPU kernel on cluster'),
      caption: trans.__(
        'Request a GPU allocation on the Slurm cluster and get its kernels'
      ),
      icon: gpuIcon,
      describedBy: { args: { type: 'object', properties: {} } },
      execute: async () => {
        if (!panel || panel.isDisposed) {
          // Loaded on first use, so the panel's code does not delay JupyterLab's start.
          const { RequestPanel } = await import('./widgets/RequestPanel');
          const content = new RequestPanel({
            serverSettings: app.serviceManager.serverSettings,
            translator: translator ?? undefined
          });
          panel = new MainAreaWidget({ content });
          panel.id = 'jp-SlurmKernels-request';
          panel.title.label = trans.__('GPU kernel on cluster');
          panel.title.icon = gpuIcon;
          panel.title.closable = true;
        }
        if (!panel.isAttached) {
          app.shell.add(panel, 'main');
        }
        app.shell.activateById(panel.id);
        return panel;
      }
    });

    launcher?.add({
      command: CommandIDs.openRequestPanel,
      category: trans.__('HPC'),
      rank: 0
    });
    palette?.addItem({
      command: CommandIDs.openRequestPanel,
      category: trans.__('Slurm cluster')
    });
  }
};

export default plugin;
