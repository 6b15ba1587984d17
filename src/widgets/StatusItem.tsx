/**
 * Status bar item: how many allocations are active and the shortest time left; a click opens the
 * allocation list.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';
import { timeLeft } from '../format';
import type { SlurmKernelsModel } from '../model';

export class StatusItem extends ReactWidget {
  constructor(
    private readonly _model: SlurmKernelsModel,
    private readonly _trans: TranslationBundle,
    private readonly _onClick: () => void
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
}): JSX.Element {
  const { model, trans, onClick } = props;
  const active = model.allocations.filter(
    a => !['ended', 'failed'].includes(a.state)
  );
  const soonest = active
    .filter(a => a.endTime)
    .sort(
      (a, b) =>
        Date.parse(a.endTime as string) - Date.parse(b.endTime as string)
    )[0];
  const text =
    active.length === 0
      ? trans.__('Slurm: no allocation')
      : soonest
        ? trans._n(
            'Slurm: %1 allocation, %2 left',
            'Slurm: %1 allocations, %2 left',
            active.length,
            timeLeft(soonest, trans)
          )
        : trans._n(
            'Slurm: %1 allocation',
            'Slurm: %1 allocations',
            active.length
          );
  return (
    <button
      className="jp-SlurmKernels-statusButton"
      onClick={onClick}
      title={trans.__('Show my allocations')}
    >
      {text}
    </button>
  );
}
