/**
 * After a job is lost (its node failed, its gateway crashed) and relaunched, or run again by Slurm
 * after a requeue: the open notebooks whose kernel came from the lost job get the same kernel of the
 * new run. Their kernel state is gone; their code and outputs stay.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { Allocation } from './api/allocation';

/** What a notebook's widget offers, as far as switching its kernel needs. */
interface IKernelDocument {
  context: { path: string };
  sessionContext: {
    session: {
      kernel: {
        name: string;
        status?: string;
        connectionStatus?: string;
      } | null;
    } | null;
    kernelPreference: { name?: string };
    changeKernel(options: { name: string }): Promise<unknown>;
  };
}

function isKernelDocument(widget: unknown): widget is IKernelDocument {
  const w = widget as Partial<IKernelDocument>;
  return (
    typeof w.context?.path === 'string' &&
    typeof w.sessionContext?.changeKernel === 'function'
  );
}

/**
 * Switches the main area's notebooks on a kernel of job `fromJobId` (slurm-<job>-<remote name>,
 * slurm-<cluster>-<job>-<remote name> on a cluster added by alias: `cluster` is then its name) to
 * the kernel of the same remote name in `to`; resolves the paths switched.
 */
export async function switchNotebooks(
  shell: JupyterFrontEnd.IShell,
  fromJobId: string,
  to: Allocation,
  cluster?: string
): Promise<string[]> {
  const named = cluster ? `slurm-${cluster}-` : 'slurm-';
  const prefix = `${named}${fromJobId}-`;
  const offered = new Set(to.kernelspecs.map(k => k.name));
  const switched: string[] = [];
  for (const widget of shell.widgets('main')) {
    if (!isKernelDocument(widget)) {
      continue;
    }
    const context = widget.sessionContext;
    // A dead kernel's session may be gone; the name the notebook asked for remains.
    const name = context.session?.kernel?.name ?? context.kernelPreference.name;
    const target = name?.startsWith(prefix)
      ? `${named}${to.jobId}-${name.slice(prefix.length)}`
      : undefined;
    if (target && offered.has(target)) {
      await context.changeKernel({ name: target });
      // A listing of running kernels on its way while the kernel changed can make JupyterLab take
      // the new kernel for dead and close its connection before it opens: then once more.
      if (await Private.takenForDead(context)) {
        await context.changeKernel({ name: target });
      }
      switched.push(widget.context.path);
    }
  }
  return switched;
}

namespace Private {
  /** Whether the notebook's new kernel was declared dead before it connected (waits up to 5 s). */
  export async function takenForDead(
    context: IKernelDocument['sessionContext']
  ): Promise<boolean> {
    for (let waited = 0; waited < 5_000; waited += 100) {
      const kernel = context.session?.kernel;
      if (!kernel || kernel.status === undefined) {
        return false; // nothing to watch
      }
      if (kernel.status === 'dead') {
        return true;
      }
      if (kernel.connectionStatus === 'connected') {
        return false;
      }
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    return false;
  }
}
