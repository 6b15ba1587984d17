/**
 * Before a job's time limit: save the open notebooks whose kernel runs in that allocation, so their
 * code and outputs survive the kernel's end.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { Allocation } from './api/allocation';

/** What a document widget of a notebook offers, as far as saving before the end needs. */
interface IKernelDocument {
  context: { path: string; save(): Promise<void> };
  sessionContext: { session: { kernel: { name: string } | null } | null };
}

function isKernelDocument(widget: unknown): widget is IKernelDocument {
  const w = widget as Partial<IKernelDocument>;
  return (
    typeof w.context?.save === 'function' && w.sessionContext !== undefined
  );
}

/** Saves the main area's notebooks running one of the allocation's kernels; resolves their paths. */
export async function saveNotebooksOf(
  shell: JupyterFrontEnd.IShell,
  allocation: Allocation
): Promise<string[]> {
  const kernels = new Set(allocation.kernelspecs.map(k => k.name));
  const saved: string[] = [];
  for (const widget of shell.widgets('main')) {
    if (!isKernelDocument(widget)) {
      continue;
    }
    const kernel = widget.sessionContext.session?.kernel?.name;
    if (kernel && kernels.has(kernel)) {
      await widget.context.save();
      saved.push(widget.context.path);
    }
  }
  return saved;
}
