/**
 * Left sidebar: my allocations, always at hand.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';
import type { SlurmKernelsModel } from '../model';
import { AllocationList } from './AllocationList';

export class AllocationsSidebar extends ReactWidget {
  constructor(private readonly _options: AllocationsSidebar.IOptions) {
    super();
    this.addClass('jp-SlurmKernels-sidebar');
  }

  protected render(): JSX.Element {
    const { model, trans, openNotebook, openRequestPanel } = this._options;
    return (
      <UseSignal signal={model.changed} initialSender={model}>
        {() => (
          <div>
            <h2>{trans.__('My allocations')}</h2>
            <button
              className="jp-mod-styled jp-mod-accept"
              onClick={openRequestPanel}
            >
              {trans.__('Request a GPU kernel…')}
            </button>
            <AllocationList
              model={model}
              trans={trans}
              openNotebook={openNotebook}
            />
          </div>
        )}
      </UseSignal>
    );
  }
}

export namespace AllocationsSidebar {
  export interface IOptions {
    model: SlurmKernelsModel;
    trans: TranslationBundle;
    openNotebook: (kernelName: string) => void;
    openRequestPanel: () => void;
  }
}
