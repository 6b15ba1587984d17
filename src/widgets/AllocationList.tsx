/**
 * My allocations: each as a card with its stage (submitted → pending → running on node → gateway up →
 * kernels ready), the pending reason in words, time left, GPU-hours used, and actions: open a
 * notebook on it, show the job log, relaunch with the same settings, cancel (after confirming).
 * Everything from the cluster is rendered as text.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';
import {
  gpuHoursOf,
  gpusAsked,
  type Allocation,
  type AllocationProblem,
  type AutoCancel,
  type TransportKind
} from '../api/allocation';
import { clockTime, timeLeft } from '../format';
import { GpuPanel } from './GpuPanel';
import type { SlurmKernelsModel } from '../model';

export interface IAllocationListProps {
  model: SlurmKernelsModel;
  trans: TranslationBundle;
  /** Opens a new notebook on a kernelspec. */
  openNotebook: (kernelName: string) => void;
  /** Shows only active allocations and those ended in the last hour. */
  recentOnly?: boolean;
}

const STAGES = ['submitted', 'pending', 'running', 'ready'] as const;

export function AllocationList({
  model,
  trans,
  openNotebook,
  recentOnly
}: IAllocationListProps): JSX.Element {
  const shown = model.allocations.filter(
    a =>
      !recentOnly ||
      !['ended', 'failed'].includes(a.state) ||
      Date.now() - Date.parse(a.updatedAt) < 3_600_000
  );
  if (shown.length === 0) {
    return (
      <p className="jp-SlurmKernels-hint">{trans.__('No allocations yet.')}</p>
    );
  }
  return (
    <ul
      className="jp-SlurmKernels-allocations"
      aria-label={trans.__('My allocations')}
    >
      {shown.map(a => (
        <AllocationCard
          key={a.id}
          allocation={a}
          model={model}
          trans={trans}
          openNotebook={openNotebook}
        />
      ))}
    </ul>
  );
}

function AllocationCard(props: {
  allocation: Allocation;
  model: SlurmKernelsModel;
  trans: TranslationBundle;
  openNotebook: (kernelName: string) => void;
}): JSX.Element {
  const { allocation: a, model, trans, openNotebook } = props;
  const active = !['ended', 'failed'].includes(a.state);
  const stageLabels: Record<(typeof STAGES)[number], string> = {
    submitted: trans.__('submitted'),
    pending: trans.__('pending'),
    running: a.node ? trans.__('running on %1', a.node) : trans.__('running'),
    ready: trans.__('kernels ready')
  };
  const reached = STAGES.indexOf(a.state as (typeof STAGES)[number]);

  const cancel = async () => {
    const result = await showDialog({
      title: trans.__('Cancel job %1?', a.jobId ?? ''),
      body: trans.__(
        'Its kernels stop and unsaved kernel state is lost. Notebooks stay as they are.'
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Keep it') }),
        Dialog.warnButton({ label: trans.__('Cancel job') })
      ]
    });
    if (result.button.accept) {
      await model.cancel(a.id);
    }
  };
  const showLog = async () => {
    const log = await model.log(a.id);
    await showDialog({
      title: trans.__('Job %1 log', a.jobId ?? ''),
      body: (
        <pre className="jp-SlurmKernels-log">{log || trans.__('(empty)')}</pre>
      ),
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
  };

  return (
    <li
      className="jp-SlurmKernels-allocation"
      data-allocation={a.id}
      data-state={a.state}
    >
      <div className="jp-SlurmKernels-allocationHead">
        <strong>{trans.__('Job %1', a.jobId ?? '—')}</strong>
        <span>
          {a.request.partition} · {a.request.gres ?? trans.__('no GPU')} ·{' '}
          {a.request.time}
        </span>
      </div>
      {active && (
        <ol
          className="jp-SlurmKernels-stages"
          aria-label={trans.__('Progress')}
        >
          {STAGES.map((stage, i) => (
            <li
              key={stage}
              className={
                i < reached
                  ? 'jp-mod-done'
                  : i === reached
                    ? 'jp-mod-current'
                    : ''
              }
            >
              {stageLabels[stage]}
            </li>
          ))}
        </ol>
      )}
      {active && a.problem && (
        <p className="jp-SlurmKernels-problem" role="status">
          <strong>{problemLabel(a.problem.kind, trans)}</strong>{' '}
          {a.problem.message}
        </p>
      )}
      {a.state === 'pending' && a.pendingReason && (
        <p className="jp-SlurmKernels-reason">
          {a.pendingReason.text} <code>{a.pendingReason.code}</code>
          {a.estimatedStart &&
            ` ${trans.__('Estimated start: %1', new Date(a.estimatedStart).toLocaleString())}`}
        </p>
      )}
      {a.state === 'ready' && (
        <p className="jp-SlurmKernels-hint">
          {gpusAsked(a.request) > 0
            ? trans.__(
                '%1 left · %2 GPU-hours used',
                timeLeft(a, trans),
                gpuHoursOf(a)?.toFixed(2) ?? '—'
              )
            : trans.__('%1 left · CPU only', timeLeft(a, trans))}
          {a.transport && (
            <>
              {' · '}
              <span
                className="jp-SlurmKernels-transport"
                data-transport={a.transport.kind}
                title={a.transport.note ?? ''}
              >
                {transportText(a.transport.kind, trans)}
              </span>
            </>
          )}
        </p>
      )}
      {a.state === 'ready' && a.gpus && (
        <GpuPanel gpus={a.gpus} trans={trans} />
      )}
      {a.state === 'ready' && a.autoCancel && (
        <p className="jp-SlurmKernels-autoCancel">
          {autoCancelText(a.autoCancel, trans)}{' '}
          <button
            className="jp-mod-styled"
            onClick={() => void model.keep(a.id)}
            title={trans.__('Put the cancel off: its limits count from now')}
          >
            {trans.__('Keep')}
          </button>
        </p>
      )}
      {a.state === 'ending' && (
        <p className="jp-SlurmKernels-hint">{trans.__('Ending…')}</p>
      )}
      {!active && a.outcome && (
        <p
          className={
            a.state === 'failed'
              ? 'jp-SlurmKernels-error'
              : 'jp-SlurmKernels-hint'
          }
        >
          {a.outcome.message}
        </p>
      )}
      <div className="jp-SlurmKernels-actions">
        {a.state === 'ready' &&
          a.kernelspecs.map(spec => (
            <button
              key={spec.name}
              className="jp-mod-styled jp-mod-accept"
              onClick={() => openNotebook(spec.name)}
              title={spec.displayName}
            >
              {trans.__('Open notebook (%1)', spec.displayName.split(' · ')[0])}
            </button>
          ))}
        <button className="jp-mod-styled" onClick={() => void showLog()}>
          {trans.__('Show log')}
        </button>
        {active ? (
          <button
            className="jp-mod-styled jp-mod-warn"
            onClick={() => void cancel()}
            disabled={a.state === 'ending'}
          >
            {trans.__('Cancel')}
          </button>
        ) : (
          <button
            className="jp-mod-styled"
            onClick={() => void model.relaunch(a)}
          >
            {trans.__('Relaunch')}
          </button>
        )}
      </div>
    </li>
  );
}

/** The headline of what stands in an allocation's way; its message says the rest. */
function problemLabel(
  kind: AllocationProblem['kind'],
  trans: TranslationBundle
): string {
  switch (kind) {
    case 'slurm_unreachable':
      return trans.__('Slurm unreachable.');
    case 'node_unreachable':
      return trans.__('Node unreachable.');
    case 'cluster_unreachable':
      return trans.__('Cluster unreachable.');
    case 'submission_unconfirmed':
      return trans.__('Submission unconfirmed.');
    case 'cancel_pending':
      return trans.__('Cancel pending.');
  }
}

/** Why a cancel is scheduled, and when, in the allocation's card. */
function autoCancelText(due: AutoCancel, trans: TranslationBundle): string {
  const at = clockTime(due.at);
  switch (due.why) {
    case 'idle':
      return trans.__('No code has run for a while: cancelled at %1.', at);
    case 'no_kernel':
      return trans.__('No kernel: cancelled at %1 unless one starts.', at);
    case 'gpu_idle':
      return trans.__(
        'Its GPUs have been idle for a while: cancelled at %1 unless they get busy.',
        at
      );
  }
}

/** How the companion reaches the allocation's gateway, in its card. */
function transportText(kind: TransportKind, trans: TranslationBundle): string {
  switch (kind) {
    case 'ssh':
      return trans.__('through ssh');
    case 'openssh':
      return trans.__('through OpenSSH');
    case 'srun':
      return trans.__('through the srun relay');
  }
}
