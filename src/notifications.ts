/**
 * JupyterLab notifications for what users wait for: an allocation ready (with "Open notebook"),
 * failed or ended by Slurm (final state, exit code, "Show log"), walltime warnings, cancels
 * the policy schedules (with "Keep") and carries out, kernels that do not see the GPUs asked for
 * (with the evidence), and GPUs left idle.
 */
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Allocation } from './api/allocation';
import { clockTime } from './format';
import type { IRelaunch, ITransition, IWalltimeWarning } from './model';

/**
 * Where the lab drives several clusters, each message starts with its cluster's name, as the
 * kernel picker's names do ("Python 3 · hpc · node2 · …"): job ids repeat across clusters.
 */
function onCluster(
  trans: TranslationBundle,
  cluster: string | undefined,
  message: string
): string {
  return cluster ? trans.__('%1 · %2', cluster, message) : message;
}

export interface INotifyActions {
  openNotebook: (kernelName: string) => void;
  showLog: (allocationId: string) => void;
}

export function notifyTransition(
  t: ITransition,
  trans: TranslationBundle,
  actions: INotifyActions,
  cluster?: string
): void {
  const a = t.allocation;
  if (t.to === 'ready') {
    const first = a.kernelspecs[0];
    Notification.success(
      onCluster(
        trans,
        cluster,
        trans.__(
          'Job %1 is ready on %2: its kernels are in the kernel picker.',
          a.jobId ?? '',
          a.node ?? ''
        )
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
  } else if (t.to === 'ended' && a.outcome?.autoCancelled) {
    Notification.info(
      onCluster(
        trans,
        cluster,
        trans.__('Job %1: %2', a.jobId ?? '', a.outcome.message)
      ),
      { autoClose: false }
    );
  } else if (
    t.to === 'failed' ||
    // Only the user's own cancel goes unsaid; a time limit also passes through "ending".
    (t.to === 'ended' && a.outcome && a.outcome.state !== 'CANCELLED')
  ) {
    Notification.error(
      onCluster(
        trans,
        cluster,
        trans.__(
          'Job %1: %2',
          a.jobId ?? '',
          a.outcome?.message ?? trans.__('it ended')
        )
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
  saved: string[] = [],
  cluster?: string
): void {
  const ends = trans.__(
    'Job %1 on %2 ends in %3 min',
    w.allocation.jobId ?? '',
    w.allocation.node ?? '',
    Math.max(0, Math.round(w.minutesLeft))
  );
  const message =
    saved.length > 0
      ? trans._n(
          '%2: saved %1 notebook using it (%3).',
          '%2: saved %1 notebooks using it (%3).',
          saved.length,
          ends,
          saved.join(', ')
        )
      : trans.__('%1: save your work.', ends);
  Notification.warning(onCluster(trans, cluster, message), {
    autoClose: false
  });
}

/** A cancel the policy scheduled is near: say when and why, with "Keep" to put it off. */
export function notifyAutoCancel(
  a: Allocation,
  trans: TranslationBundle,
  keep: (allocationId: string) => Promise<void>,
  cluster?: string
): void {
  if (!a.autoCancel) {
    return;
  }
  const at = clockTime(a.autoCancel.at);
  const job = a.jobId ?? '';
  const node = a.node ?? '';
  const message = {
    idle: () =>
      trans.__(
        'Job %1 on %2 has run no code for a while: it is cancelled at %3 to free its GPUs.',
        job,
        node,
        at
      ),
    no_kernel: () =>
      trans.__(
        'Job %1 on %2 has no kernel: it is cancelled at %3 to free its GPUs, unless a kernel starts in it.',
        job,
        node,
        at
      ),
    gpu_idle: () =>
      trans.__(
        'The GPUs of job %1 on %2 have been idle for a while: it is cancelled at %3 to free them, unless they get busy.',
        job,
        node,
        at
      )
  }[a.autoCancel.why]();
  const id = Notification.warning(onCluster(trans, cluster, message), {
    autoClose: false,
    actions: [
      {
        label: trans.__('Keep'),
        callback: () => {
          keep(a.id).catch(err =>
            Notification.error(
              onCluster(
                trans,
                cluster,
                trans.__(
                  'Could not keep job %1: %2',
                  a.jobId ?? '',
                  String(err)
                )
              ),
              { autoClose: false }
            )
          );
          Notification.dismiss(id);
        }
      }
    ]
  });
}

/** The kernels do not see the GPUs asked for: said loudly, the job's own evidence one click away. */
export function notifyGpuProblem(
  a: Allocation,
  trans: TranslationBundle,
  showEvidence: (a: Allocation) => void,
  cluster?: string
): void {
  if (!a.gpus?.problem) {
    return;
  }
  Notification.warning(
    onCluster(
      trans,
      cluster,
      trans.__(
        'Job %1 on %2: %3',
        a.jobId ?? '',
        a.node ?? '',
        a.gpus.problem.message
      )
    ),
    {
      autoClose: false,
      actions: [
        {
          label: trans.__('Show evidence'),
          callback: () => showEvidence(a)
        }
      ]
    }
  );
}

/** Every GPU of an allocation has been at 0 % for the idle window. */
export function notifyGpusIdle(
  a: Allocation,
  trans: TranslationBundle,
  cancel: (allocationId: string) => Promise<void>,
  cluster?: string
): void {
  if (!a.gpus?.idle.since) {
    return;
  }
  const id = Notification.info(
    onCluster(
      trans,
      cluster,
      trans._n(
        'Job %2 on %3: its GPU has been idle since %4 (over %5 min). Cancel it if you are done.',
        'Job %2 on %3: its GPUs have all been idle since %4 (over %5 min). Cancel it if you are done.',
        a.gpus.series.length,
        a.jobId ?? '',
        a.node ?? '',
        clockTime(a.gpus.idle.since),
        a.gpus.idle.minutes
      )
    ),
    {
      autoClose: false,
      actions: [
        {
          label: trans.__('Cancel job'),
          displayType: 'warn',
          callback: () => {
            cancel(a.id).catch(err =>
              Notification.error(
                onCluster(
                  trans,
                  cluster,
                  trans.__(
                    'Could not cancel job %1: %2',
                    a.jobId ?? '',
                    String(err)
                  )
                ),
                { autoClose: false }
              )
            );
            Notification.dismiss(id);
          }
        }
      ]
    }
  );
}

/** Notebooks of a lost job were switched to the kernels of its relaunch (or of its next run). */
export function notifySwitched(
  r: IRelaunch,
  trans: TranslationBundle,
  switched: string[],
  cluster?: string
): void {
  if (switched.length === 0) {
    return;
  }
  Notification.info(
    onCluster(
      trans,
      cluster,
      trans._n(
        '%1 notebook now runs on job %2 (on %3), in place of job %4: run its cells again, its variables are gone (%5).',
        '%1 notebooks now run on job %2 (on %3), in place of job %4: run their cells again, their variables are gone (%5).',
        switched.length,
        r.allocation.jobId ?? '',
        r.allocation.node ?? '',
        r.fromJobId,
        switched.join(', ')
      )
    ),
    { autoClose: 15_000 }
  );
}
