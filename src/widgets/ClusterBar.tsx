/**
 * Above the request form: which cluster it is for (a choice where the lab drives several), and
 * "Add a cluster…", by its ssh config alias or user@host (laptop mode). A refused alias keeps
 * what was typed and says why, beside the field at fault.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';
import { addClusterSchema, type ClusterSummary } from '../api/clusters';
import type { ClusterDirectory } from '../clusters';
import { CompanionError } from '../handler';

export function ClusterBar(props: {
  directory: ClusterDirectory;
  trans: TranslationBundle;
}): JSX.Element {
  const { directory, trans } = props;
  const named = directory.clusters.filter(c => c.summary);
  const selected = directory.selected;
  const [adding, setAdding] = useState(false);
  const noCluster = directory.loaded && directory.clusters.length === 0;
  return (
    <div className="jp-SlurmKernels-clusterBar">
      {named.length > 1 ? (
        <label>
          {trans.__('Cluster')}{' '}
          <select
            className="jp-mod-styled"
            aria-label={trans.__('Cluster')}
            value={selected?.model.clusterName ?? ''}
            onChange={e => directory.select(e.target.value)}
          >
            {named.map(c => (
              <option key={c.summary?.name} value={c.summary?.name}>
                {clusterLabel(c.summary, trans)}
              </option>
            ))}
          </select>
        </label>
      ) : named.length === 1 ? (
        <span className="jp-SlurmKernels-clusterName">
          {trans.__('Cluster: %1', clusterLabel(named[0].summary, trans))}
        </span>
      ) : null}{' '}
      {!adding && !noCluster && (
        <button className="jp-mod-styled" onClick={() => setAdding(true)}>
          {trans.__('Add a cluster…')}
        </button>
      )}
      {noCluster && (
        <p className="jp-SlurmKernels-hint">
          {trans.__(
            'No cluster yet. Add one by its alias in your ~/.ssh/config, or as user@host: this lab logs in to it once (asking your code, if it needs one) and drives Slurm there.'
          )}
        </p>
      )}
      {(adding || noCluster) && (
        <AddClusterForm
          directory={directory}
          trans={trans}
          onDone={() => setAdding(false)}
        />
      )}
    </div>
  );
}

/** "local (this login node)", or the name the cluster was added under. */
export function clusterLabel(
  summary: ClusterSummary | null,
  trans: TranslationBundle
): string {
  if (!summary) {
    return '';
  }
  return summary.local
    ? trans.__('%1 (this login node)', summary.name)
    : summary.name;
}

function AddClusterForm(props: {
  directory: ClusterDirectory;
  trans: TranslationBundle;
  onDone: () => void;
}): JSX.Element {
  const { directory, trans, onDone } = props;
  const [alias, setAlias] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<{ field?: string; message: string }>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const input = { alias, ...(name.trim() ? { name: name.trim() } : {}) };
    const checked = addClusterSchema.safeParse(input);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      setError({ field: String(issue.path[0]), message: issue.message });
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await directory.add(checked.data);
      onDone();
    } catch (err) {
      setError({
        field: err instanceof CompanionError ? err.field : undefined,
        message: (err as Error).message
      });
    } finally {
      setBusy(false);
    }
  };
  /** A labelled input, and why the companion refused it where it did. */
  const field = (
    key: 'alias' | 'name',
    label: string,
    value: string,
    set: (value: string) => void,
    more: React.InputHTMLAttributes<HTMLInputElement> = {}
  ) => (
    <label>
      {label}
      <input
        className="jp-mod-styled"
        name={key}
        value={value}
        onChange={e => set(e.target.value)}
        {...more}
      />
      {error?.field === key && (
        <span className="jp-SlurmKernels-fieldError" role="alert">
          {error.message}
        </span>
      )}
    </label>
  );
  return (
    <form
      className="jp-SlurmKernels-addCluster"
      aria-label={trans.__('Add a cluster')}
      onSubmit={submit}
    >
      {field('alias', trans.__('SSH alias or user@host'), alias, setAlias, {
        placeholder: trans.__('mycluster'),
        autoFocus: true
      })}
      {field('name', trans.__('Name in this lab (optional)'), name, setName)}
      {error && error.field !== 'alias' && error.field !== 'name' && (
        <p className="jp-SlurmKernels-error" role="alert">
          {error.message}
        </p>
      )}
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={busy}
      >
        {busy ? trans.__('Adding…') : trans.__('Add cluster')}
      </button>
      {directory.clusters.length > 0 && (
        <button type="button" className="jp-mod-styled" onClick={onDone}>
          {trans.__('Cancel')}
        </button>
      )}
    </form>
  );
}
