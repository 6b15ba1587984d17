/**
 * jupyterlab-slurm-kernels: GPU kernels on a Slurm cluster, straight from JupyterLab.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  ITranslator,
  nullTranslator,
  type TranslationBundle
} from '@jupyterlab/translation';
import type { ISignal } from '@lumino/signaling';
import React from 'react';
import type { Allocation } from './api/allocation';
import { gpuEvidenceText } from './format';
import { gpuIcon } from './icons';
// The models poll from activation on and the status bar shows them at once: no lazy import.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { ClusterDirectory } from './clusters';
import type { SlurmKernelsModel } from './model';
import {
  DEFAULTS,
  IDefaults,
  readDefaults,
  withClusterChoices
} from './settings';
import { switchNotebooks } from './relaunch';
import { saveNotebooksOf } from './walltime';
import { CommandIDs, PLUGIN_ID, TRANSLATION_DOMAIN } from './tokens';
import type { RequestPanel } from './widgets/RequestPanel';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Request GPU allocations on a Slurm cluster and use their kernels from JupyterLab.',
  autoStart: true,
  optional: [
    ILauncher,
    ICommandPalette,
    ITranslator,
    ISettingRegistry,
    IStatusBar,
    ILayoutRestorer
  ],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    restorer: ILayoutRestorer | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const services = app.serviceManager;
    // One model per cluster of the lab (the login node's own; those added by ssh alias).
    const directory = new ClusterDirectory({
      serverSettings: services.serverSettings,
      kernelspecs: services.kernelspecs
    });
    /** The cluster whose partitions the settings editor offers: the panel's. */
    const shownModel = () => directory.selected?.model ?? null;
    const openNotebook = (kernelName: string) => {
      void app.commands.execute('notebook:create-new', { kernelName });
    };
    // Loaded with the first thing to say, not before the application starts.
    const notifications = () => import('./notifications');
    directory.modelAdded.connect((_, model) => {
      // Never waits on the network: the cluster and allocations load in the background.
      void model.refreshCluster();
      void model.refresh();
      model.defaults = defaults;
      const summary = directory.clusters.find(c => c.model === model)?.summary;
      followModel(model, {
        kernelsNamedFor: summary && !summary.local ? summary.name : undefined,
        app,
        trans,
        openNotebook,
        notifications,
        named: () => directory.clusters.length > 1,
        clustersChanged: directory.changed,
        statusBar
      });
    });
    let defaults: IDefaults = DEFAULTS;
    void directory.refresh();
    if (settingRegistry) {
      // The settings editor offers the cluster's partitions and GRES; re-read once they are known.
      settingRegistry.transform(PLUGIN_ID, {
        fetch: plugin => ({
          ...plugin,
          schema: withClusterChoices(
            plugin.schema,
            shownModel()?.cluster ?? null,
            trans
          )
        })
      });
      let withChoices = false;
      directory.modelAdded.connect((_, model) =>
        model.changed.connect(() => {
          if (model === shownModel() && model.cluster && !withChoices) {
            withChoices = true;
            void settingRegistry.reload(PLUGIN_ID);
          }
        })
      );
      let clustersAsked: string | null = null;
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          defaults = readDefaults(settings);
          directory.clusters.forEach(c => (c.model.defaults = defaults));
          // The clusters the settings name are added to the lab (never taken out from here), when
          // the lab loads and when they change.
          const wanted = JSON.stringify(defaults.clusters);
          if (wanted === clustersAsked) {
            return;
          }
          clustersAsked = wanted;
          void directory.addMissing(defaults.clusters).then(failures =>
            failures.forEach(f =>
              Notification.error(trans.__('Cluster not added: %1', f), {
                autoClose: false
              })
            )
          );
        };
        apply();
        settings.changed.connect(apply);
      });
    }

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
          panel = new MainAreaWidget({
            content: new RequestPanel({ directory, trans, openNotebook })
          });
          panel.id = 'jp-SlurmKernels-request';
          panel.title.label = trans.__('GPU kernel on cluster');
          panel.title.icon = gpuIcon;
          panel.title.closable = true;
        }
        // Fresh partitions each time it is opened, and clusters added elsewhere (another tab).
        void directory.refresh();
        void shownModel()?.refreshCluster();
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

    void import('./widgets/Sidebar').then(({ AllocationsSidebar }) => {
      const sidebar = new AllocationsSidebar({
        directory,
        trans,
        openNotebook,
        openRequestPanel: () =>
          void app.commands.execute(CommandIDs.openRequestPanel)
      });
      sidebar.id = 'jp-SlurmKernels-sidebar';
      sidebar.title.icon = gpuIcon;
      sidebar.title.caption = trans.__('My Slurm allocations');
      app.shell.add(sidebar, 'left', { rank: 900 });
      restorer?.add(sidebar, sidebar.id);
    });
  }
};

/** What one cluster's model drives: notifications, login dialogs, the notebooks, a status item. */
function followModel(
  model: SlurmKernelsModel,
  o: {
    app: JupyterFrontEnd;
    trans: TranslationBundle;
    openNotebook: (kernelName: string) => void;
    notifications: () => Promise<typeof import('./notifications')>;
    named: () => boolean;
    /** The lab's clusters came or went: whether to name this one may have changed. */
    clustersChanged: ISignal<unknown, void>;
    statusBar: IStatusBar | null;
    /** The cluster its kernelspecs are named for (one added by alias), if any. */
    kernelsNamedFor?: string;
  }
): void {
  const { app, trans, openNotebook, notifications } = o;
  /** Named in each notification where the lab has several clusters. */
  const cluster = () =>
    o.named() ? (model.clusterName ?? undefined) : undefined;
  const showLog = async (allocationId: string) => {
    const log = await model.log(allocationId);
    await showDialog({
      title: trans.__('Job log'),
      body: React.createElement(
        'pre',
        { className: 'jp-SlurmKernels-log' },
        log || trans.__('(empty)')
      ),
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
  };
  model.transitioned.connect(async (_, t) =>
    (await notifications()).notifyTransition(
      t,
      trans,
      { openNotebook, showLog },
      cluster()
    )
  );
  // Laptop mode: what a login to the cluster needs from the person, as a dialog.
  const prompter = import('./login').then(
    ({ LoginPrompter }) =>
      new LoginPrompter({ serverSettings: model.serverSettings, trans })
  );
  model.loginAsked.connect(async (_, question) =>
    (await prompter).ask(question)
  );
  model.loginSettled.connect(async (_, id) => (await prompter).settled(id));
  model.disposed.connect(async () => (await prompter).closeAll());
  model.autoCancelling.connect(async (_, a) =>
    (await notifications()).notifyAutoCancel(
      a,
      trans,
      id => model.keep(id),
      cluster()
    )
  );
  const showEvidence = async (a: Allocation) => {
    await showDialog({
      title: trans.__('GPUs of job %1', a.jobId ?? ''),
      body: React.createElement(
        'pre',
        { className: 'jp-SlurmKernels-evidence' },
        a.gpus
          ? `${a.gpus.problem?.message ?? ''}\n\n${gpuEvidenceText(a.gpus)}`
          : ''
      ),
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
  };
  model.gpuProblem.connect(async (_, a) =>
    (await notifications()).notifyGpuProblem(a, trans, showEvidence, cluster())
  );
  model.gpusIdle.connect(async (_, a) =>
    (await notifications()).notifyGpusIdle(
      a,
      trans,
      async id => {
        await model.cancel(id);
      },
      cluster()
    )
  );
  model.relaunched.connect(async (_, r) => {
    const switched = await switchNotebooks(
      app.shell,
      r.fromJobId,
      r.allocation,
      o.kernelsNamedFor
    );
    (await notifications()).notifySwitched(r, trans, switched, cluster());
  });
  model.walltimeWarning.connect(async (_, w) => {
    // At the last warning, the notebooks of that allocation are saved: their code and outputs
    // outlive the kernel.
    const saved = w.last ? await saveNotebooksOf(app.shell, w.allocation) : [];
    (await notifications()).notifyWalltime(w, trans, saved, cluster());
  });
  const statusBar = o.statusBar;
  if (statusBar) {
    void import('./widgets/StatusItem').then(({ StatusItem }) => {
      if (model.isDisposed) {
        return;
      }
      const item = new StatusItem(
        model,
        trans,
        () => app.shell.activateById('jp-SlurmKernels-sidebar'),
        o.named
      );
      const registered = statusBar.registerStatusItem(
        model.clusterName ? `${PLUGIN_ID}:${model.clusterName}` : PLUGIN_ID,
        { item, align: 'left', rank: 4 }
      );
      const relabel = () => item.update();
      o.clustersChanged.connect(relabel);
      model.disposed.connect(() => {
        o.clustersChanged.disconnect(relabel);
        registered.dispose();
        item.dispose();
      });
    });
  }
}

export default plugin;
