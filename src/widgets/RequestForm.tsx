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

  /** A text field with its label, its error and, where Slurm knows them, suggestions. */
  const textField = (
    field: FormField,
    label: string,
    placeholder: string,
    choices?: string[]
  ) => (
    <Field id={field} label={label} error={errorOf(field)}>
      <input
        id={`jp-SlurmKernels-${field}`}
        className="jp-mod-styled"
        value={values[field]}
        onChange={set(field)}
        placeholder={placeholder}
        list={choices ? `jp-SlurmKernels-${field}-choices` : undefined}
      />
      {choices && (
        <datalist id={`jp-SlurmKernels-${field}-choices`}>
          {choices.map(name => (
            <option key={name} value={name} />
          ))}
        </datalist>
      )}
    </Field>
  );

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
        {textField('time', trans.__('Time limit'), trans.__('e.g. 1:00:00'))}
        {textField('cpus', trans.__('CPUs'), trans.__('default'))}
        {textField('memory', trans.__('Memory'), trans.__('e.g. 16G'))}
      </div>
      <div className="jp-SlurmKernels-row">
        {textField(
          'account',
          trans.__('Account'),
          trans.__('default'),
          cluster.accounts
        )}
        {textField('qos', trans.__('QOS'), trans.__('default'), cluster.qos)}
        {textField('jobName', trans.__('Job name'), trans.__('automatic'))}
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
