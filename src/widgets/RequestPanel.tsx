/**
 * The panel opened by the "GPU kernel on cluster" tile: which cluster (and "Add a cluster…"), what
 * it offers right now, the request form, and my allocations there.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';
import { formatGpus, formatLimit } from '../format';
import type { ClusterDirectory } from '../clusters';
import type { SlurmKernelsModel } from '../model';
import { AllocationList } from './AllocationList';
import { ClusterBar } from './ClusterBar';
import { RequestForm } from './RequestForm';

export class RequestPanel extends ReactWidget {
  constructor(private readonly _options: RequestPanel.IOptions) {
    super();
    this.addClass('jp-SlurmKernels-requestPanel');
  }

  protected render(): JSX.Element {
    const { directory, trans, openNotebook } = this._options;
    return (
      <UseSignal signal={directory.changed} initialSender={directory}>
        {() => {
          const model = directory.selected?.model;
          return (
            <div>
              <h2>{trans.__('GPU kernel on cluster')}</h2>
              <ClusterBar directory={directory} trans={trans} />
              {model && (
                // Keyed by cluster: the form starts afresh on another cluster's partitions.
                <ClusterView
                  key={model.clusterName ?? ''}
                  model={model}
                  trans={trans}
                  openNotebook={openNotebook}
                />
              )}
            </div>
          );
        }}
      </UseSignal>
    );
  }
}

export namespace RequestPanel {
  export interface IOptions {
    directory: ClusterDirectory;
    trans: TranslationBundle;
    openNotebook: (kernelName: string) => void;
  }
}

/** One cluster: what it offers, the form, and my allocations there. */
function ClusterView({
  model,
  trans,
  openNotebook
}: {
  model: SlurmKernelsModel;
  trans: TranslationBundle;
  openNotebook: (kernelName: string) => void;
}): JSX.Element {
  return (
    <UseSignal signal={model.changed} initialSender={model}>
      {() => (
        <div>
          <ClusterSummary model={model} trans={trans} />
          {model.cluster && <RequestForm model={model} trans={trans} />}
          <h3>{trans.__('My allocations')}</h3>
          <AllocationList
            model={model}
            trans={trans}
            openNotebook={openNotebook}
            recentOnly
          />
        </div>
      )}
    </UseSignal>
  );
}

function ClusterSummary({
  model,
  trans
}: {
  model: SlurmKernelsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const cluster = model.cluster;
  if (!cluster) {
    return model.clusterError ? (
      <div role="alert">
        <p className="jp-SlurmKernels-error">
          {trans.__('Cannot read the cluster: %1', model.clusterError)}
        </p>
        <button
          className="jp-mod-styled jp-mod-accept"
          onClick={() => void model.refreshCluster()}
        >
          {trans.__('Try again')}
        </button>
      </div>
    ) : (
      <p className="jp-SlurmKernels-hint">{trans.__('Reading the cluster…')}</p>
    );
  }
  return (
    <details className="jp-SlurmKernels-clusterSummary" open>
      <summary>
        {trans.__(
          'Cluster read from Slurm at %1',
          new Date(cluster.fetchedAt).toLocaleTimeString()
        )}{' '}
        <button
          className="jp-mod-styled"
          onClick={() => void model.refreshCluster()}
        >
          {trans.__('Refresh')}
        </button>
      </summary>
      <table
        className="jp-SlurmKernels-partitions"
        aria-label={trans.__('Partitions')}
      >
        <thead>
          <tr>
            <th>{trans.__('Partition')}</th>
            <th>{trans.__('State')}</th>
            <th>{trans.__('GPUs')}</th>
            <th>{trans.__('Time limit')}</th>
            <th>{trans.__('Nodes')}</th>
          </tr>
        </thead>
        <tbody>
          {cluster.partitions.map(p => (
            <tr key={p.name} data-partition={p.name}>
              <td>{p.name}</td>
              <td>{p.state}</td>
              <td>{formatGpus(p, trans)}</td>
              <td>{formatLimit(p.maxTimeMinutes, trans)}</td>
              <td>{p.nodes.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
