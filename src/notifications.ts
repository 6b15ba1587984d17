/**
 * JupyterLab notifications for what users wait for: an allocation ready (with "Open notebook"),
 * failed or ended by Slurm (final state, exit code, "Show log"), and walltime warnings.
 */
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { ITransition, IWalltimeWarning } from './model';

export interface INotifyActions {
  openNotebook: (kernelName: string) => void;
  showLog: (allocationId: string) => void;
}

export function notifyTransition(
  t: ITransition,
  trans: TranslationBundle,
  actions: INotifyActions
): void {
  const a = t.allocation;
  if (t.to === 'ready') {
    const first = a.kernelspecs[0];
    Notification.success(
      trans.__(
        'Job %1 is ready on %2: its kernels are in the kernel picker.',
        a.jobId ?? '',
        a.node ?? ''
      ),
      {
        autoClose: 10_000,
        actions: first
          ? [
              {
                label: trans.__('Open notebook'),
                callback: () => actions.openNotebook(first.name)
              }
            ]
          : []
      }
    );
  } else if (
    t.to === 'failed' ||
    (t.to === 'ended' &&
      a.outcome &&
      a.outcome.state !== 'CANCELLED' &&
      t.from !== 'ending')
  ) {
    Notification.error(
      trans.__(
        'Job %1: %2',
        a.jobId ?? '',
        a.outcome?.message ?? trans.__('it ended')
      ),
      {
        autoClose: false,
        actions: [
          { label: trans.__('Show log'), callback: () => actions.showLog(a.id) }
        ]
      }
    );
  }
}

export function notifyWalltime(
  w: IWalltimeWarning,
  trans: TranslationBundle,
  saved: string[] = []
): void {
  const ends = trans.__(
    'Job %1 on %2 ends in %3 min',
    w.allocation.jobId ?? '',
    w.allocation.node ?? '',
    Math.max(0, Math.round(w.minutesLeft))
  );
  Notification.warning(
    saved.length > 0
      ? trans._n(
          '%2: saved %1 notebook using it (%3).',
          '%2: saved %1 notebooks using it (%3).',
          saved.length,
          ends,
          saved.join(', ')
        )
      : trans.__('%1: save your work.', ends),
    { autoClose: false }
  );
}
