/**
 * An allocation's GPUs on its card: what its kernels see (model × count, memory), a loud warning
 * when that is not what was asked for (the raw evidence one click away), a small chart per GPU of
 * its use and memory, and the idle flag. Unknown values (utilisation on MIG) are gaps and say
 * "unknown", never 0.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';
import type { AllocationGpus, GpuSample } from '../api/allocation';
import { clockTime, gpuEvidenceText } from '../format';

const WIDTH = 120;
const HEIGHT = 28;

export function GpuPanel(props: {
  gpus: AllocationGpus;
  trans: TranslationBundle;
}): JSX.Element {
  const { gpus, trans } = props;
  return (
    <div className="jp-SlurmKernels-gpus">
      <p className="jp-SlurmKernels-gpuSummary">
        {trans.__('GPUs: %1', gpus.summary)}
      </p>
      {gpus.problem && (
        <div
          className="jp-SlurmKernels-gpuWarning"
          data-problem={gpus.problem.kind}
          role="alert"
        >
          <p>{gpus.problem.message}</p>
          <details>
            <summary>{trans.__('Evidence from the job')}</summary>
            <pre className="jp-SlurmKernels-evidence">
              {gpuEvidenceText(gpus)}
            </pre>
          </details>
        </div>
      )}
      {gpus.sampler.state === 'failed' && (
        <p className="jp-SlurmKernels-hint">
          {trans.__(
            'GPU use is not known: %1',
            gpus.sampler.message ?? trans.__('the sampler stopped')
          )}
        </p>
      )}
      {gpus.idle.flagged && gpus.idle.since && (
        <p className="jp-SlurmKernels-gpuIdle">
          {trans.__(
            'GPUs idle: every one at 0 %% since %1.',
            clockTime(gpus.idle.since)
          )}
        </p>
      )}
      {gpus.series.length > 0 && (
        <ul className="jp-SlurmKernels-gpuCharts">
          {gpus.series.map(s => (
            <li
              key={s.uuid}
              data-gpu-uuid={s.uuid}
              data-samples={s.samples.length}
            >
              <GpuChart samples={s.samples} totalMiB={s.memoryTotalMiB} />
              <span>{gpuLabel(s, trans)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function gpuLabel(
  s: AllocationGpus['series'][number],
  trans: TranslationBundle
): string {
  const last = s.samples[s.samples.length - 1];
  const util =
    !last || last.utilizationGpu === null
      ? trans.__('use unknown')
      : trans.__('%1 %% busy', last.utilizationGpu);
  const memory =
    last && last.memoryUsedMiB !== null && s.memoryTotalMiB
      ? ` · ${gib(last.memoryUsedMiB)} / ${gib(s.memoryTotalMiB)} GiB`
      : '';
  return `GPU ${s.index} · ${util}${memory}`;
}

function gib(mib: number): string {
  return (mib / 1024).toFixed(1);
}

/** Use (solid) and memory (dashed) over the samples kept; a gap where a value is unknown. */
function GpuChart(props: {
  samples: GpuSample[];
  totalMiB: number | null;
}): JSX.Element {
  const { samples, totalMiB } = props;
  const util = segments(samples, s => s.utilizationGpu, 100);
  const memory = totalMiB
    ? segments(samples, s => s.memoryUsedMiB, totalMiB)
    : [];
  return (
    <svg
      className="jp-SlurmKernels-gpuChart"
      width={WIDTH}
      height={HEIGHT}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      aria-hidden="true"
    >
      {memory.map((points, i) => (
        <polyline key={`m${i}`} className="jp-mod-memory" points={points} />
      ))}
      {util.map((points, i) => (
        <polyline key={`u${i}`} className="jp-mod-use" points={points} />
      ))}
    </svg>
  );
}

/** SVG points of the known values, one run per stretch without a gap. */
function segments(
  samples: GpuSample[],
  value: (s: GpuSample) => number | null,
  max: number
): string[] {
  const step = samples.length > 1 ? WIDTH / (samples.length - 1) : 0;
  const runs: string[][] = [[]];
  samples.forEach((s, i) => {
    const v = value(s);
    if (v === null) {
      runs.push([]);
      return;
    }
    const y = HEIGHT - 1 - (Math.min(v, max) / max) * (HEIGHT - 2);
    runs[runs.length - 1].push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  // A lone point is drawn as a short flat line, so a single sample shows.
  return runs
    .filter(run => run.length > 0)
    .map(run =>
      run.length === 1
        ? `${run[0]} ${Number(run[0].split(',')[0]) + 2},${run[0].split(',')[1]}`
        : run.join(' ')
    );
}
