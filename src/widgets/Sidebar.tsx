/**
 * Left sidebar: my allocations, always at hand; under each cluster's name where the lab drives
 * several.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';
import type { ClusterDirectory } from '../clusters';
import { AllocationList } from './AllocationList';
import { clusterLabel } from './ClusterBar';

export class AllocationsSidebar extends ReactWidget {
  constructor(private readonly _options: AllocationsSidebar.IOptions) {
    super();
    this.addClass('jp-SlurmKernels-sidebar');
  }

  protected render(): JSX.Element {
    const { directory, trans, openNotebook, openRequestPanel } = this._options;
    return (
      <UseSignal signal={directory.changed} initialSender={directory}>
        {() => (
          <div>
            <h2>{trans.__('My allocations')}</h2>
            <button
              className="jp-mod-styled jp-mod-accept"
              onClick={openRequestPanel}
            >
              {trans.__('Request a GPU kernel…')}
            </button>
            {directory.clusters.map(({ summary, model }) => (
              <section
                key={summary?.name ?? ''}
                aria-label={summary?.name ?? trans.__('Cluster')}
              >
                {directory.clusters.length > 1 && (
                  <h3>{clusterLabel(summary, trans)}</h3>
                )}
                <UseSignal signal={model.changed} initialSender={model}>
                  {() => (
                    <AllocationList
                      model={model}
                      trans={trans}
                      openNotebook={openNotebook}
                    />
                  )}
                </UseSignal>
              </section>
            ))}
          </div>
        )}
      </UseSignal>
    );
  }
}

export namespace AllocationsSidebar {
  export interface IOptions {
    directory: ClusterDirectory;
    trans: TranslationBundle;
    openNotebook: (kernelName: string) => void;
    openRequestPanel: () => void;
  }
}
