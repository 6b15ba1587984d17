import { Notification, ReactWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import React from 'react';
import type { Allocation, AllocationGpus } from '../api/allocation';
import { gpuEvidenceText } from '../format';
import { SlurmKernelsModel } from '../model';
import { notifyGpuProblem, notifyGpusIdle } from '../notifications';
import { GpuPanel } from '../widgets/GpuPanel';
import { gpuSummary, sessionGpuHours, StatusItem } from '../widgets/StatusItem';
import { trans } from './fixtures';

const H100 = 'NVIDIA H100 80GB HBM3';

function gpus(over: Partial<AllocationGpus> = {}): AllocationGpus {
  return {
    requested: 2,
    devices: null,
    summary: `2× ${H100}, 79.6 GiB each`,
    problem: null,
    evidence: {
      node: 'node1',
      environment: { CUDA_VISIBLE_DEVICES: '0,1', SLURM_JOB_GPUS: '0,1' },
      nvidiaSmi: `0, GPU-a, 00000000:18:00.0, ${H100}, 81559\n1, GPU-b, 00000000:19:00.0, ${H100}, 81559\n`
    },
    sampler: { state: 'running', message: null },
    series: [
      {
        uuid: 'GPU-a',
        index: 0,
        name: H100,
        memoryTotalMiB: 81559,
        samples: [
          { t: 1, utilizationGpu: 0, memoryUsedMiB: 0 },
          { t: 2, utilizationGpu: 80, memoryUsedMiB: 20480 }
        ]
      },
      {
        uuid: 'GPU-b',
        index: 1,
        name: H100,
        memoryTotalMiB: 81559,
        samples: [
          { t: 1, utilizationGpu: null, memoryUsedMiB: 100 },
          { t: 2, utilizationGpu: null, memoryUsedMiB: 200 }
        ]
      }
    ],
    idle: { since: null, flagged: false, minutes: 30 },
    ...over
  };
}

function allocation(g: AllocationGpus | null, id = 'a1'): Allocation {
  return {
    id,
    jobId: '17',
    request: {
      partition: 'gpu',
      gres: 'gpu:2',
      time: '1:00:00',
      environment: { modules: [], init: [] }
    },
    state: 'ready',
    slurmState: 'RUNNING',
    pendingReason: null,
    estimatedStart: null,
    startTime: '2026-11-23T07:00:00.000Z',
    endTime: '2026-11-23T08:00:00.000Z',
    node: 'node1',
    kernelspecs: [],
    outcome: null,
    gpus: g,
    createdAt: '2026-11-23T07:00:00.000Z',
    updatedAt: '2026-11-23T07:00:00.000Z'
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(check()).toBe(true);
}

async function rendered(g: AllocationGpus): Promise<Widget> {
  const widget = ReactWidget.create(<GpuPanel gpus={g} trans={trans} />);
  Widget.attach(widget, document.body);
  for (let i = 0; i < 100 && !widget.node.textContent; i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  return widget;
}

describe('the GPUs on an allocation card', () => {
  it('shows model × count, a chart per GPU, and a GPU that does not say as unknown, not 0', async () => {
    const widget = await rendered(gpus());
    expect(widget.node.textContent).toContain(
      `GPUs: 2× ${H100}, 79.6 GiB each`
    );
    const labels = Array.from(
      widget.node.querySelectorAll('.jp-SlurmKernels-gpuCharts li span')
    ).map(s => s.textContent);
    expect(labels).toEqual([
      'GPU 0 · 80 % busy · 20.0 / 79.6 GiB',
      'GPU 1 · use unknown · 0.2 / 79.6 GiB'
    ]);
    const second = widget.node.querySelector('li[data-gpu-uuid="GPU-b"] svg');
    // No utilisation line at all for it (a gap, not a line at 0), only its memory.
    expect(second?.querySelectorAll('polyline.jp-mod-use')).toHaveLength(0);
    expect(second?.querySelectorAll('polyline.jp-mod-memory')).toHaveLength(1);
    expect(widget.node.querySelector('.jp-SlurmKernels-gpuWarning')).toBeNull();
    widget.dispose();
  });

  it('warns loudly when the kernels see no GPU, with the raw evidence one click away', async () => {
    const widget = await rendered(
      gpus({
        summary: 'no GPU',
        problem: {
          kind: 'none',
          message:
            'the kernels see no GPU: CUDA_VISIBLE_DEVICES is empty in the job'
        },
        evidence: {
          node: 'node1',
          environment: { CUDA_VISIBLE_DEVICES: '', SLURM_JOB_GPUS: null },
          nvidiaSmi: 'Failed to initialize NVML'
        }
      })
    );
    const warning = widget.node.querySelector('.jp-SlurmKernels-gpuWarning');
    expect(warning?.getAttribute('data-problem')).toBe('none');
    expect(warning?.getAttribute('role')).toBe('alert');
    expect(warning?.querySelector('summary')?.textContent).toBe(
      'Evidence from the job'
    );
    expect(warning?.querySelector('pre')?.textContent).toBe(
      [
        'node: node1',
        'CUDA_VISIBLE_DEVICES=',
        'SLURM_JOB_GPUS=(unset)',
        'nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total:',
        'Failed to initialize NVML'
      ].join('\n')
    );
    widget.dispose();
  });

  it('flags GPUs idle for the window', async () => {
    const widget = await rendered(
      gpus({
        idle: { since: '2026-11-23T07:05:00.000Z', flagged: true, minutes: 30 }
      })
    );
    expect(
      widget.node.querySelector('.jp-SlurmKernels-gpuIdle')?.textContent
    ).toMatch(/^GPUs idle: every one at 0 % since /);
    widget.dispose();
  });
});

describe('GPU summaries and warnings', () => {
  afterEach(() => jest.restoreAllMocks());

  it('sums each allocation up in the status bar tooltip', () => {
    expect(gpuSummary(allocation(gpus()), trans)).toBe(
      `Job 17 on node1: 2× ${H100}, 79.6 GiB each — 80 %, unknown`
    );
    expect(
      gpuSummary(
        allocation(
          gpus({
            problem: { kind: 'fewer', message: 'the kernels see 1 GPU(s)' },
            idle: { since: 'x', flagged: true, minutes: 30 }
          })
        ),
        trans
      )
    ).toMatch(/\(warning: the kernels see 1 GPU\(s\); idle\)$/);
    expect(gpuSummary(allocation(null), trans)).toBe('');
  });

  it('counts the GPU-hours of this lab session from its start, and none of an allocation without GPUs', () => {
    const start = Date.parse('2026-11-23T07:30:00.000Z');
    const cpuOnly = {
      ...allocation(null, 'a2'),
      request: { ...allocation(null).request, gres: undefined }
    };
    const ended = { ...allocation(null, 'a3'), state: 'ended' as const };
    // a1 runs: 2 GPUs from 07:30 (the session) to 08:30; a3 ended at 08:00: 2 GPUs for 30 min.
    expect(
      sessionGpuHours(
        {
          allocations: [allocation(gpus()), cpuOnly, ended],
          sessionStart: start
        },
        trans,
        Date.parse('2026-11-23T08:30:00.000Z')
      )
    ).toBe('GPU-hours in this lab session: 3.00');
    expect(
      sessionGpuHours({ allocations: [cpuOnly], sessionStart: start }, trans)
    ).toBe('');
  });

  it('notifies a binding problem once, with the evidence as an action', async () => {
    const warning = jest.spyOn(Notification, 'warning');
    const problem = gpus({
      problem: { kind: 'none', message: 'the kernels see no GPU' }
    });
    const body = JSON.stringify({ allocations: [allocation(problem)] });
    const model = new SlurmKernelsModel({
      serverSettings: ServerConnection.makeSettings({
        baseUrl: 'http://localhost/',
        fetch: async () => new Response(body, { status: 200 })
      })
    });
    const seen: Allocation[] = [];
    model.gpuProblem.connect((_, a) => seen.push(a));
    let refreshed = 0;
    model.changed.connect(() => (refreshed += 1));
    void model.refresh();
    await until(() => seen.length > 0);
    const before = refreshed;
    void model.refresh();
    await until(() => refreshed > before);
    expect(seen.map(a => a.id)).toEqual(['a1']); // once, though seen twice
    model.dispose();

    const shown: string[] = [];
    notifyGpuProblem(seen[0], trans, a => shown.push(gpuEvidenceText(a.gpus!)));
    expect(warning).toHaveBeenCalledWith(
      'Job 17 on node1: the kernels see no GPU',
      expect.objectContaining({ autoClose: false })
    );
    const { actions } = warning.mock.calls[0][1] as {
      actions: { label: string; callback: () => void }[];
    };
    expect(actions.map(a => a.label)).toEqual(['Show evidence']);
    actions[0].callback();
    expect(shown[0]).toContain('CUDA_VISIBLE_DEVICES=0,1');
  });
});

it('says how long the idle window is when GPUs are idle, whatever their number', () => {
  const info = jest.spyOn(Notification, 'info');
  const idle = gpus({
    idle: { since: '2026-11-23T07:10:00.000Z', flagged: true, minutes: 30 }
  });
  notifyGpusIdle(allocation(idle), trans, async () => undefined);
  expect(info.mock.calls[info.mock.calls.length - 1][0]).toMatch(
    /^Job 17 on node1: its GPUs have all been idle since .+ \(over 30 min\)\. Cancel it if you are done\.$/
  );
  info.mockRestore();
});

describe("the companion's events", () => {
  /** Stands in for the browser's EventSource: the test sends what the companion would. */
  class FakeEventSource {
    static last: FakeEventSource | null = null;
    constructor(readonly url: string) {
      FakeEventSource.last = this;
    }
    addEventListener(type: string, listener: (e: MessageEvent) => void): void {
      this._listeners.set(type, listener);
    }
    send(type: string, data: unknown): void {
      this._listeners.get(type)?.(
        new MessageEvent(type, { data: JSON.stringify(data) })
      );
    }
    close(): void {
      this._listeners.clear();
    }
    private _listeners = new Map<string, (e: MessageEvent) => void>();
  }

  beforeEach(() => {
    (globalThis as { EventSource?: unknown }).EventSource = FakeEventSource;
  });
  afterEach(() => {
    delete (globalThis as { EventSource?: unknown }).EventSource;
  });

  it('takes new GPU samples from the event itself, and fetches the list for a change of state', async () => {
    let listed = allocation(gpus());
    let fetched = 0;
    const model = new SlurmKernelsModel({
      serverSettings: ServerConnection.makeSettings({
        baseUrl: 'http://localhost/',
        fetch: async () => {
          fetched += 1;
          return new Response(JSON.stringify({ allocations: [listed] }));
        }
      })
    });
    try {
      void model.refresh();
      await until(() => model.allocations.length === 1);
      const before = fetched;
      const sampled = gpus({
        idle: { since: null, flagged: false, minutes: 5 }
      });
      FakeEventSource.last!.send('allocation', allocation(sampled));
      expect(model.allocations[0].gpus?.idle.minutes).toBe(5);
      expect(fetched).toBe(before);

      listed = { ...allocation(null), state: 'ended', slurmState: 'CANCELLED' };
      FakeEventSource.last!.send('allocation', listed);
      await until(() => model.allocations[0].state === 'ended');
      expect(fetched).toBe(before + 1);
    } finally {
      model.dispose();
    }
  });
});

describe('the status bar item', () => {
  async function statusOf(allocations: Allocation[]): Promise<HTMLElement> {
    const model = {
      changed: new Signal<unknown, void>({}),
      allocations,
      sessionStart: Date.now()
    } as unknown as SlurmKernelsModel;
    const widget = new StatusItem(model, trans, () => undefined);
    Widget.attach(widget, document.body);
    for (let i = 0; i < 100 && !widget.node.textContent; i++) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    const button = widget.node.querySelector('button') as HTMLElement;
    widget.dispose();
    return button;
  }

  it('says when the cluster is out of reach, why in its tooltip, and otherwise counts allocations', async () => {
    const lost = {
      ...allocation(null),
      problem: {
        kind: 'cluster_unreachable' as const,
        message: 'mycluster: the connection to the login node was lost',
        since: '2026-12-02T10:00:00.000Z'
      }
    };
    const warned = await statusOf([lost, allocation(null, 'a2')]);
    expect(warned.textContent).toBe('Slurm: cluster unreachable');
    expect(warned.classList.contains('jp-mod-warning')).toBe(true);
    expect(warned.title.split('\n')[0]).toBe(lost.problem.message);

    const fine = await statusOf([allocation(null), allocation(null, 'a2')]);
    expect(fine.textContent).toMatch(/^Slurm: 2 allocations/);
    expect(fine.classList.contains('jp-mod-warning')).toBe(false);
  });
});
