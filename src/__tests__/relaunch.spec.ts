import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { Allocation } from '../api/allocation';
import { switchNotebooks } from '../relaunch';

function notebook(path: string, kernel: string | null, preferred?: string) {
  const changed: string[] = [];
  return {
    changed,
    widget: {
      context: { path },
      sessionContext: {
        session: kernel ? { kernel: { name: kernel } } : null,
        kernelPreference: { name: preferred },
        changeKernel: async ({ name }: { name: string }) =>
          void changed.push(name)
      }
    }
  };
}

const relaunched = {
  jobId: '31',
  kernelspecs: [
    { name: 'slurm-31-python3', displayName: 'Python 3', language: 'python' },
    { name: 'slurm-31-ir', displayName: 'R', language: 'R' }
  ]
} as Allocation;

describe('switchNotebooks', () => {
  it("moves the notebooks of the lost job to the relaunch's kernel of the same name", async () => {
    const python = notebook('train.ipynb', 'slurm-17-python3');
    // Its kernel died and its session went: the name it asked for is used.
    const r = notebook('plots.ipynb', null, 'slurm-17-ir');
    const otherJob = notebook('other.ipynb', 'slurm-170-python3');
    const local = notebook('local.ipynb', 'python3');
    const unknownSpec = notebook('julia.ipynb', 'slurm-17-julia');
    const shell = {
      widgets: () => [
        python.widget,
        r.widget,
        otherJob.widget,
        local.widget,
        unknownSpec.widget,
        { title: 'a launcher' }
      ]
    } as unknown as JupyterFrontEnd.IShell;
    expect(await switchNotebooks(shell, '17', relaunched)).toEqual([
      'train.ipynb',
      'plots.ipynb'
    ]);
    expect(python.changed).toEqual(['slurm-31-python3']);
    expect(r.changed).toEqual(['slurm-31-ir']);
    expect(otherJob.changed).toEqual([]);
    expect(local.changed).toEqual([]);
    expect(unknownSpec.changed).toEqual([]);
  });

  it('starts the same kernel again when Slurm ran the same job again (requeue)', async () => {
    const python = notebook('train.ipynb', 'slurm-31-python3');
    const shell = {
      widgets: () => [python.widget]
    } as unknown as JupyterFrontEnd.IShell;
    expect(await switchNotebooks(shell, '31', relaunched)).toEqual([
      'train.ipynb'
    ]);
    expect(python.changed).toEqual(['slurm-31-python3']);
  });

  it("on a cluster added by alias, switches that cluster's kernels only", async () => {
    const onHpc = {
      jobId: '31',
      kernelspecs: [
        { name: 'slurm-hpc-31-python3', displayName: 'P', language: 'python' }
      ]
    } as Allocation;
    const mine = notebook('train.ipynb', 'slurm-hpc-17-python3');
    // The same job id on the login node's own cluster: another job, left alone.
    const localJob = notebook('local.ipynb', 'slurm-17-python3');
    const shell = {
      widgets: () => [mine.widget, localJob.widget]
    } as unknown as JupyterFrontEnd.IShell;
    expect(await switchNotebooks(shell, '17', onHpc, 'hpc')).toEqual([
      'train.ipynb'
    ]);
    expect(mine.changed).toEqual(['slurm-hpc-31-python3']);
    expect(localJob.changed).toEqual([]);
  });
});
