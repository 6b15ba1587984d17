/**
 * Status bar item: how many allocations are active and the shortest time left, or that the cluster
 * is out of reach (a laptop's login to it lost); its tooltip sums up each one's GPUs (use now,
 * warnings, idle); a click opens the allocation list.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';
import { gpuHoursOf, type Allocation } from '../api/allocation';
import { timeLeft } from '../format';
import type { SlurmKernelsModel } from '../model';

export class StatusItem extends ReactWidget {
  constructor(
    private readonly _model: SlurmKernelsModel,
    private readonly _trans: TranslationBundle,
    private readonly _onClick: () => void,
    /** Whether to name the cluster (the lab drives several). */
    private readonly _named: () => boolean = () => false
  ) {
    super();
    this.addClass('jp-SlurmKernels-status');
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed} initialSender={this._model}>
        {() => (
          <StatusText
            model={this._model}
            trans={this._trans}
            onClick={this._onClick}
            named={this._named()}
          />
        )}
      </UseSignal>
    );
  }
}

function StatusText(props: {
  model: SlurmKernelsModel;
  trans: TranslationBundle;
  onClick: () => void;
  named: boolean;
}): JSX.Element {
  const { model, trans, onClick, named } = props;
  const active = model.allocations.filter(
    a => !['ended', 'failed'].includes(a.state)
  );
  const soonest = active
    .filter(a => a.endTime)
    .sort(
      (a, b) =>
        Date.parse(a.endTime as string) - Date.parse(b.endTime as string)
    )[0];
  const unreachable = clusterUnreachable(active);
  // "Slurm on hpc-a: …" where the lab drives several clusters.
  const slurm =
    named && model.clusterName
      ? trans.__('Slurm on %1:', model.clusterName)
      : trans.__('Slurm:');
  const text = unreachable
    ? trans.__('%1 cluster unreachable', slurm)
    : active.length === 0
      ? trans.__('%1 no allocation', slurm)
      : soonest
        ? trans._n(
            '%2 %1 allocation, %3 left',
            '%2 %1 allocations, %3 left',
            active.length,
            slurm,
            timeLeft(soonest, trans)
          )
        : trans._n(
            '%2 %1 allocation',
            '%2 %1 allocations',
            active.length,
            slurm
          );
  return (
    <button
      className={
        unreachable
          ? 'jp-SlurmKernels-statusButton jp-mod-warning'
          : 'jp-SlurmKernels-statusButton'
      }
      onClick={onClick}
      title={[
        unreachable?.message ?? '',
        ...active.map(a => gpuSummary(a, trans)).filter(Boolean),
        sessionGpuHours(model, trans),
        trans.__('Show my allocations')
      ]
        .filter(Boolean)
        .join('\n')}
    >
      {text}
    </button>
  );
}

/** The problem of an allocation whose cluster is out of reach, if one is: they all share it. */
export function clusterUnreachable(
  active: Allocation[]
): Allocation['problem'] | undefined {
  return active.find(a => a.problem?.kind === 'cluster_unreachable')?.problem;
}

/** "Job 12 on node1: 2× NVIDIA H100 80GB HBM3, 79.6 GiB each — 35 %, 0 %"; '' without GPUs. */
export function gpuSummary(a: Allocation, trans: TranslationBundle): string {
  const gpus = a.gpus;
  if (!gpus) {
    return '';
  }
  const use = gpus.series
    .map(s => s.samples[s.samples.length - 1]?.utilizationGpu)
    .map(u =>
      u === undefined ? '' : u === null ? trans.__('unknown') : `${u} %`
    )
    .filter(Boolean)
    .join(', ');
  const notes = [
    gpus.problem ? trans.__('warning: %1', gpus.problem.message) : '',
    gpus.idle.flagged ? trans.__('idle') : ''
  ].filter(Boolean);
  return [
    trans.__('Job %1 on %2: %3', a.jobId ?? '', a.node ?? '', gpus.summary),
    use ? ` — ${use}` : '',
    notes.length > 0 ? ` (${notes.join('; ')})` : ''
  ].join('');
}

/** "GPU-hours in this lab session: 1.25" over every allocation listed; '' when none held GPUs. */
export function sessionGpuHours(
  model: Pick<SlurmKernelsModel, 'allocations' | 'sessionStart'>,
  trans: TranslationBundle,
  now = Date.now()
): string {
  const hours = model.allocations
    .map(a => gpuHoursOf(a, now, model.sessionStart))
    .filter((h): h is number => h !== null);
  return hours.length === 0
    ? ''
    : trans.__(
        'GPU-hours in this lab session: %1',
        hours.reduce((sum, h) => sum + h, 0).toFixed(2)
      );
}
