/**
 * The allocation request form: fed by the cluster (partitions with free GPUs, GPU types and counts,
 * time limits), prefilled from settings, checked as the user types with the companion's own schema,
 * with a preview of the exact job script. Submit stays disabled while anything is invalid.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useMemo, useState } from 'react';
import { formatLimit, partitionLabel } from '../format';
import {
  ANY_TYPE,
  FormErrors,
  FormField,
  formFieldOf,
  gpuTypes,
  IFormValues,
  initialValues,
  maxGpus,
  NO_GPU,
  toRequestInput,
  validate
} from '../formModel';
import { CompanionError } from '../handler';
import type { SlurmKernelsModel } from '../model';

export interface IRequestFormProps {
  model: SlurmKernelsModel;
  trans: TranslationBundle;
  onSubmitted?: () => void;
}

export function RequestForm({
  model,
  trans,
  onSubmitted
}: IRequestFormProps): JSX.Element | null {
  const cluster = model.cluster;
  const [values, setValues] = useState<IFormValues | null>(null);
  const [serverError, setServerError] = useState<{
    field?: FormField;
    message: string;
  } | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [script, setScript] = useState<string>('');

  useEffect(() => {
    if (cluster && !values) {
      setValues(
        initialValues(model.defaults, cluster, model.presets, model.sitePreset)
      );
    }
  }, [cluster, values, model]);

  const errors: FormErrors = useMemo(
    () => (values ? validate(values, cluster, model.presets) : {}),
    [values, cluster, model.presets]
  );
  const valid = values !== null && Object.keys(errors).length === 0;

  useEffect(() => {
    if (!valid || !values) {
      setScript('');
      return;
    }
    const timer = setTimeout(() => {
      model
        .preview(toRequestInput(values, model.presets))
        .then(setScript, () => setScript(''));
    }, 300);
    return () => clearTimeout(timer);
  }, [valid, values, model]);

  if (!cluster || !values) {
    return null;
  }
  const partition = cluster.partitions.find(p => p.name === values.partition);
  const types = gpuTypes(partition);
  const most = maxGpus(
    partition,
    values.gresType === NO_GPU ? ANY_TYPE : values.gresType
  );
  const set =
    (field: FormField) =>
    (event: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
      setServerError(null);
      setValues({ ...values, [field]: event.target.value });
    };
  const errorOf = (field: FormField) =>
    errors[field] ??
    (serverError?.field === field ? serverError.message : undefined);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!valid) {
      return;
    }
    setSubmitting(true);
    setServerError(null);
    try {
      await model.request(toRequestInput(values, model.presets));
      onSubmitted?.();
    } catch (err) {
      const field =
        err instanceof CompanionError ? formFieldOf(err.field) : undefined;
      setServerError({
        field,
        message: err instanceof Error ? err.message : String(err)
      });
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <form className="jp-SlurmKernels-form" onSubmit={submit} noValidate>
      <Field
        id="partition"
        label={trans.__('Partition')}
        error={errorOf('partition')}
      >
        <select
          id="jp-SlurmKernels-partition"
          className="jp-mod-styled"
          value={values.partition}
          onChange={set('partition')}
        >
          {cluster.partitions.map(p => (
            <option key={p.name} value={p.name}>
              {partitionLabel(p, trans)}
            </option>
          ))}
        </select>
        {partition && (
          <span className="jp-SlurmKernels-hint">
            {trans.__(
              'Time limit %1 · %2 nodes',
              formatLimit(partition.maxTimeMinutes, trans),
              partition.nodes.length
            )}
          </span>
        )}
      </Field>
      <div className="jp-SlurmKernels-row">
        <Field id="gresType" label={trans.__('GPU type')} error={undefined}>
          <select
            id="jp-SlurmKernels-gresType"
            className="jp-mod-styled"
            value={values.gresType}
            onChange={set('gresType')}
          >
            <option value={NO_GPU}>{trans.__('No GPU')}</option>
            {types.length > 0 && (
              <option value={ANY_TYPE}>{trans.__('Any type')}</option>
            )}
            {types
              .filter(t => t !== ANY_TYPE)
              .map(t => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
          </select>
        </Field>
        <Field
          id="gresCount"
          label={trans.__('GPUs')}
          error={errorOf('gresCount')}
        >
          <input
            id="jp-SlurmKernels-gresCount"
            className="jp-mod-styled"
            type="number"
            min={1}
            max={most || undefined}
            disabled={values.gresType === NO_GPU}
            value={values.gresType === NO_GPU ? '' : values.gresCount}
            onChange={set('gresCount')}
          />
          {values.gresType !== NO_GPU && most > 0 && (
            <span className="jp-SlurmKernels-hint">
              {trans.__('at most %1 per node', most)}
            </span>
          )}
        </Field>
      </div>
      <div className="jp-SlurmKernels-row">
        <Field id="time" label={trans.__('Time limit')} error={errorOf('time')}>
          <input
            id="jp-SlurmKernels-time"
            className="jp-mod-styled"
            value={values.time}
            onChange={set('time')}
            placeholder={trans.__('e.g. 1:00:00')}
          />
        </Field>
        <Field id="cpus" label={trans.__('CPUs')} error={errorOf('cpus')}>
          <input
            id="jp-SlurmKernels-cpus"
            className="jp-mod-styled"
            value={values.cpus}
            onChange={set('cpus')}
            placeholder={trans.__('default')}
          />
        </Field>
        <Field id="memory" label={trans.__('Memory')} error={errorOf('memory')}>
          <input
            id="jp-SlurmKernels-memory"
            className="jp-mod-styled"
            value={values.memory}
            onChange={set('memory')}
            placeholder={trans.__('e.g. 16G')}
          />
        </Field>
      </div>
      <div className="jp-SlurmKernels-row">
        <Field
          id="account"
          label={trans.__('Account')}
          error={errorOf('account')}
        >
          <input
            id="jp-SlurmKernels-account"
            className="jp-mod-styled"
            value={values.account}
            onChange={set('account')}
            placeholder={trans.__('default')}
            list="jp-SlurmKernels-account-choices"
          />
          <datalist id="jp-SlurmKernels-account-choices">
            {cluster.accounts.map(name => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </Field>
        <Field id="qos" label={trans.__('QOS')} error={errorOf('qos')}>
          <input
            id="jp-SlurmKernels-qos"
            className="jp-mod-styled"
            value={values.qos}
            onChange={set('qos')}
            placeholder={trans.__('default')}
            list="jp-SlurmKernels-qos-choices"
          />
          <datalist id="jp-SlurmKernels-qos-choices">
            {cluster.qos.map(name => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </Field>
        <Field
          id="jobName"
          label={trans.__('Job name')}
          error={errorOf('jobName')}
        >
          <input
            id="jp-SlurmKernels-jobName"
            className="jp-mod-styled"
            value={values.jobName}
            onChange={set('jobName')}
            placeholder={trans.__('automatic')}
          />
        </Field>
      </div>
      <Field
        id="preset"
        label={trans.__('Environment')}
        error={errorOf('preset')}
      >
        <select
          id="jp-SlurmKernels-preset"
          className="jp-mod-styled"
          value={values.preset}
          onChange={set('preset')}
        >
          <option value="">
            {trans.__('None (the job inherits this environment)')}
          </option>
          {Object.keys(model.presets).map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </Field>
      {serverError && !serverError.field && (
        <p role="alert" className="jp-SlurmKernels-error">
          {serverError.message}
        </p>
      )}
      <div className="jp-SlurmKernels-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={!valid || submitting}
        >
          {submitting ? trans.__('Submitting…') : trans.__('Submit')}
        </button>
      </div>
      <details className="jp-SlurmKernels-preview">
        <summary>{trans.__('Job script')}</summary>
        <pre aria-label={trans.__('Job script preview')}>
          {script || trans.__('(shown once the request is valid)')}
        </pre>
      </details>
    </form>
  );
}

function Field(props: {
  id: string;
  label: string;
  error: string | undefined;
  children: React.ReactNode;
}): JSX.Element {
  const errorId = `jp-SlurmKernels-${props.id}-error`;
  return (
    <div className="jp-SlurmKernels-field" data-field={props.id}>
      <label htmlFor={`jp-SlurmKernels-${props.id}`}>{props.label}</label>
      {props.children}
      {props.error && (
        <span id={errorId} className="jp-SlurmKernels-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}
