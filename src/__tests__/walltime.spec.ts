import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { Allocation } from '../api/allocation';
import { saveNotebooksOf } from '../walltime';

function notebook(path: string, kernel: string | null) {
  const saved: string[] = [];
  return {
    saved,
    widget: {
      context: { path, save: async () => void saved.push(path) },
      sessionContext: { session: kernel ? { kernel: { name: kernel } } : null }
    }
  };
}

describe('saveNotebooksOf', () => {
  it("saves exactly the open notebooks running one of the allocation's kernels", async () => {
    const ours = notebook('work/train.ipynb', 'slurm-17-python3');
    const other = notebook('local.ipynb', 'python3');
    const noKernel = notebook('draft.ipynb', null);
    const shell = {
      widgets: () => [
        ours.widget,
        other.widget,
        noKernel.widget,
        { title: 'a launcher' }
      ]
    } as unknown as JupyterFrontEnd.IShell;
    const allocation = {
      kernelspecs: [
        {
          name: 'slurm-17-python3',
          displayName: 'Python 3',
          language: 'python'
        }
      ]
    } as Allocation;
    expect(await saveNotebooksOf(shell, allocation)).toEqual([
      'work/train.ipynb'
    ]);
    expect(ours.saved).toEqual(['work/train.ipynb']);
    expect(other.saved).toEqual([]);
    expect(noKernel.saved).toEqual([]);
  });
});
