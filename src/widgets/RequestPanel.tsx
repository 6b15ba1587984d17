/**
 * The request panel opened by the "GPU kernel on cluster" launcher tile: shows what the cluster
 * offers right now (partitions, time limits, free GPUs), read live from the companion.
 */
import { ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useState } from 'react';
import type { Cluster } from '../api/cluster';
import { formatGpus, formatLimit, partitionLabel } from '../format';
import { fetchCluster } from '../handler';
import { TRANSLATION_DOMAIN } from '../tokens';

export class RequestPanel extends ReactWidget {
  constructor(options: RequestPanel.IOptions) {
    super();
    this._serverSettings = options.serverSettings;
    this._trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this.addClass('jp-SlurmKernels-requestPanel');
  }

  protected render(): JSX.Element {
    return (
      <RequestForm serverSettings={this._serverSettings} trans={this._trans} />
    );
  }

  private _serverSettings: ServerConnection.ISettings;
  private _trans: TranslationBundle;
}

export namespace RequestPanel {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    translator?: ITranslator;
  }
}

type LoadState =
  | { kind: 'loading' }
  | { kind: 'failed'; message: string }
  | { kind: 'loaded'; cluster: Cluster };

function RequestForm(props: {
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
}): JSX.Element {
  const { serverSettings, trans } = props;
  const [state, setState] = useState<LoadState>({ kind: 'loading' });
  const [partition, setPartition] = useState<string>('');

  const load = useCallback(
    async (refresh: boolean) => {
      setState({ kind: 'loading' });
      try {
        const cluster = await fetchCluster(serverSettings, refresh);
        setState({ kind: 'loaded', cluster });
        setPartition(current => current || defaultPartition(cluster));
      } catch (error) {
        setState({
          kind: 'failed',
          message: error instanceof Error ? error.message : String(error)
        });
      }
    },
    [serverSettings]
  );

  useEffect(() => {
    void load(false);
  }, [load]);

  return (
    <div>
      <h2>{trans.__('GPU kernel on cluster')}</h2>
      {state.kind === 'loading' && (
        <p className="jp-SlurmKernels-hint">
          {trans.__('Reading the cluster…')}
        </p>
      )}
      {state.kind === 'failed' && (
        <div role="alert">
          <p className="jp-SlurmKernels-error">
            {trans.__('Cannot read the cluster: %1', state.message)}
          </p>
          <button
            className="jp-mod-styled jp-mod-accept"
            onClick={() => void load(true)}
          >
            {trans.__('Try again')}
          </button>
        </div>
      )}
      {state.kind === 'loaded' && (
        <ClusterView
          cluster={state.cluster}
          partition={partition}
          onPartition={setPartition}
          onRefresh={() => void load(true)}
          trans={trans}
        />
      )}
    </div>
  );
}

function defaultPartition(cluster: Cluster): string {
  // A GPU panel: prefer a partition that has GPUs, then Slurm's default.
  const withGpus =
    cluster.partitions.find(p => p.gpus.total > 0 && p.isDefault) ??
    cluster.partitions.find(p => p.gpus.total > 0);
  return (
    (
      withGpus ??
      cluster.partitions.find(p => p.isDefault) ??
      cluster.partitions[0]
    )?.name ?? ''
  );
}

function ClusterView(props: {
  cluster: Cluster;
  partition: string;
  onPartition: (name: string) => void;
  onRefresh: () => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { cluster, partition, onPartition, onRefresh, trans } = props;
  const selected = cluster.partitions.find(p => p.name === partition);
  return (
    <>
      <div className="jp-SlurmKernels-field">
        <label htmlFor="jp-SlurmKernels-partition">
          {trans.__('Partition')}
        </label>
        <select
          id="jp-SlurmKernels-partition"
          className="jp-mod-styled"
          value={partition}
          onChange={event => onPartition(event.target.value)}
        >
          {cluster.partitions.map(p => (
            <option key={p.name} value={p.name}>
              {partitionLabel(p, trans)}
            </option>
          ))}
        </select>
        {selected && (
          <span className="jp-SlurmKernels-hint">
            {trans.__(
              'Time limit %1 · %2 nodes',
              formatLimit(selected.maxTimeMinutes, trans),
              selected.nodes.length
            )}
          </span>
        )}
      </div>
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
      <p className="jp-SlurmKernels-hint">
        {trans.__(
          'Read from Slurm at %1.',
          new Date(cluster.fetchedAt).toLocaleTimeString()
        )}{' '}
        <button className="jp-mod-styled" onClick={onRefresh}>
          {trans.__('Refresh')}
        </button>
      </p>
    </>
  );
}
