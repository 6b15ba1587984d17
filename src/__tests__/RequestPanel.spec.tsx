import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import type { Allocation } from '../api/allocation';
import { ClusterDirectory } from '../clusters';
import { SlurmKernelsModel } from '../model';
import { RequestPanel } from '../widgets/RequestPanel';
import { cpuPartition, gpuPartition, trans } from './fixtures';

const gpu = gpuPartition();
const cpu = cpuPartition();

const pending: Allocation = {
  id: 'a1',
  jobId: '17',
  request: {
    partition: 'gpu',
    gres: 'gpu:tesla:2',
    time: '1:00:00',
    environment: { modules: [], init: [] }
  },
  state: 'pending',
  slurmState: 'PENDING',
  pendingReason: {
    code: 'Resources',
    text: 'Waiting for resources: the GPUs or nodes asked for are in use by other jobs.'
  },
  estimatedStart: null,
  startTime: null,
  endTime: null,
  node: null,
  kernelspecs: [],
  outcome: null,
  createdAt: '2026-11-23T07:00:00.000Z',
  updatedAt: '2026-11-23T07:00:00.000Z'
};

/** The pending allocation above, started on `node` (RUNNING, ready, an hour left at 07:01). */
function running(node: string, more: Partial<Allocation> = {}): Allocation {
  return {
    ...pending,
    state: 'ready',
    slurmState: 'RUNNING',
    pendingReason: null,
    node,
    startTime: '2026-11-23T07:01:00.000Z',
    endTime: '2026-11-23T08:01:00.000Z',
    ...more
  };
}

/** A companion answering from a table, by path. */
function settings(
  routes: Record<string, () => Response>
): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost/',
    fetch: async (input: RequestInfo | URL) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      const route = Object.keys(routes).find(path =>
        url.pathname.endsWith(path)
      );
      return route
        ? routes[route]()
        : new Response('{"error":"not_found","message":"no"}', { status: 404 });
    }
  });
}

const localCluster = () =>
  new Response(
    JSON.stringify({
      clusters: [
        {
          name: 'local',
          alias: null,
          local: true,
          default: true,
          login: 'local'
        }
      ]
    })
  );

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(check()).toBe(true);
}

describe('RequestPanel', () => {
  let panel: RequestPanel;
  let model: SlurmKernelsModel;

  let directory: ClusterDirectory;

  afterEach(() => {
    panel.dispose();
    directory.dispose();
    model.dispose();
  });

  /** The panel on a companion that serves one cluster (`local`) at routes. */
  async function open(routes: Record<string, () => Response>): Promise<void> {
    directory = new ClusterDirectory({
      serverSettings: settings({ 'api/clusters': localCluster, ...routes })
    });
    await directory.refresh();
    model = directory.selected!.model;
    panel = new RequestPanel({
      directory,
      trans,
      openNotebook: () => undefined
    });
    Widget.attach(panel, document.body);
    void model.refreshCluster();
    void model.refresh();
  }

  const json =
    (body: unknown, status = 200) =>
    () =>
      new Response(JSON.stringify(body), { status });
  const cluster = json({
    partitions: [cpu, gpu],
    nodes: [],
    accounts: [],
    qos: [],
    fetchedAt: new Date().toISOString()
  });

  it('prefills the form, preferring a partition with GPUs, and lists the partitions', async () => {
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [] })
    });
    await until(
      () => panel.node.querySelector('#jp-SlurmKernels-partition') !== null
    );
    const select = panel.node.querySelector(
      '#jp-SlurmKernels-partition'
    ) as HTMLSelectElement;
    expect(select.value).toBe('gpu');
    const gpuType = panel.node.querySelector(
      '#jp-SlurmKernels-gresType'
    ) as HTMLSelectElement;
    expect(
      Array.from(gpuType.options).map(o => [o.value, o.textContent])
    ).toEqual([
      ['', 'No GPU'],
      ['*', 'Any type'],
      ['tesla', 'tesla']
    ]);
    expect(gpuType.value).toBe('*');
    expect(Array.from(select.options).map(o => o.textContent)).toEqual([
      'cpu (default) — no GPUs',
      'gpu — 3 of 4 GPUs free (tesla)'
    ]);
    expect(panel.node.textContent).toContain('Time limit 08:00:00 · 2 nodes');
    expect(panel.node.querySelector('tr[data-partition="gpu"]')).not.toBeNull();
  });

  it('shows an impossible GPU count beside its field and keeps Submit disabled', async () => {
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [] })
    });
    await until(
      () => panel.node.querySelector('#jp-SlurmKernels-gresCount') !== null
    );
    const count = panel.node.querySelector(
      '#jp-SlurmKernels-gresCount'
    ) as HTMLInputElement;
    const setter = Object.getOwnPropertyDescriptor(
      HTMLInputElement.prototype,
      'value'
    )!.set!;
    setter.call(count, '99');
    count.dispatchEvent(new Event('input', { bubbles: true }));
    await until(
      () =>
        panel.node.querySelector('[data-field="gresCount"] [role="alert"]') !==
        null
    );
    expect(
      panel.node.querySelector('[data-field="gresCount"] [role="alert"]')!
        .textContent
    ).toBe('no node of gpu has 99 GPUs; at most 2 per node');
    expect(
      (panel.node.querySelector('button[type="submit"]') as HTMLButtonElement)
        .disabled
    ).toBe(true);
  });

  it('shows a pending allocation with its stage and the reason in words', async () => {
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [pending] })
    });
    await until(
      () => panel.node.querySelector('[data-allocation="a1"]') !== null
    );
    const card = panel.node.querySelector('[data-allocation="a1"]')!;
    expect(card.querySelector('.jp-mod-current')!.textContent).toBe('pending');
    expect(card.textContent).toContain('Waiting for resources');
    expect(card.querySelector('code')!.textContent).toBe('Resources');
  });

  it('says Slurm is unreachable on an allocation kept as it was', async () => {
    const kept: Allocation = {
      ...pending,
      problem: {
        kind: 'slurm_unreachable',
        message:
          'Slurm does not answer (squeue failed: Unable to contact slurm controller); the allocation is kept as it was',
        since: '2026-11-23T07:05:00.000Z'
      }
    };
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [kept] })
    });
    await until(
      () => panel.node.querySelector('.jp-SlurmKernels-problem') !== null
    );
    const problem = panel.node.querySelector('.jp-SlurmKernels-problem')!;
    expect(problem.querySelector('strong')!.textContent).toBe(
      'Slurm unreachable.'
    );
    expect(problem.textContent).toContain('the allocation is kept as it was');
  });

  it('shows a cancel the policy scheduled, and puts it off with Keep', async () => {
    const ready: Allocation = running('node1', {
      autoCancel: { at: '2026-11-23T07:20:00.000Z', why: 'no_kernel' }
    });
    let kept = false;
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations/a1/keep': () => {
        kept = true;
        return json({ ...ready, autoCancel: null })();
      },
      'api/allocations': () =>
        json({
          allocations: [kept ? { ...ready, autoCancel: null } : ready]
        })()
    });
    await until(
      () => panel.node.querySelector('.jp-SlurmKernels-autoCancel') !== null
    );
    const line = panel.node.querySelector('.jp-SlurmKernels-autoCancel')!;
    expect(line.textContent).toContain('No kernel: cancelled at');
    (line.querySelector('button') as HTMLButtonElement).click();
    await until(() => kept);
    await until(
      () => panel.node.querySelector('.jp-SlurmKernels-autoCancel') === null
    );
  });

  it('says when idle GPUs are the reason for a scheduled cancel', async () => {
    const ready: Allocation = running('node1', {
      autoCancel: { at: '2026-11-23T07:20:00.000Z', why: 'gpu_idle' }
    });
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [ready] })
    });
    await until(
      () => panel.node.querySelector('.jp-SlurmKernels-autoCancel') !== null
    );
    expect(
      panel.node.querySelector('.jp-SlurmKernels-autoCancel')!.textContent
    ).toMatch(
      /^Its GPUs have been idle for a while: cancelled at \d\d:\d\d( [AP]M)? unless they get busy\. Keep$/
    );
  });

  it('says how the companion reaches the allocation, and why not through ssh', async () => {
    const relayed: Allocation = running('node2', {
      transport: {
        kind: 'srun',
        note: 'ssh to node2 failed (node2: cannot connect with ssh: connect ECONNREFUSED)'
      }
    });
    await open({
      'api/cluster': cluster,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [relayed] })
    });
    await until(
      () => panel.node.querySelector('.jp-SlurmKernels-transport') !== null
    );
    const shown = panel.node.querySelector('.jp-SlurmKernels-transport')!;
    expect(shown.textContent).toBe('through the srun relay');
    expect(shown.getAttribute('title')).toMatch(/^ssh to node2 failed/);
  });

  it("sends the user's cancel policy to the companion, and again when it changes", async () => {
    const sent: unknown[] = [];
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost/',
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const request = input instanceof Request ? input : null;
        const url = new URL(String(request ? request.url : input));
        if (url.pathname.endsWith('api/policy')) {
          // The companion (express.json) reads a body only when it says it is JSON.
          const headers = new Headers(request?.headers ?? init?.headers);
          expect(headers.get('Content-Type')).toBe('application/json');
          sent.push(JSON.parse(String(init?.body ?? (await request!.text()))));
          return new Response(JSON.stringify(sent[sent.length - 1]));
        }
        return new Response('{"allocations":[]}');
      }
    });
    directory = new ClusterDirectory({ serverSettings });
    model = new SlurmKernelsModel({ serverSettings });
    panel = new RequestPanel({
      directory,
      trans,
      openNotebook: () => undefined
    });
    model.defaults = { ...model.defaults, noKernelCancelMinutes: 5 };
    await until(() => sent.length === 1);
    model.defaults = { ...model.defaults, partition: 'gpu' };
    model.defaults = { ...model.defaults, idleCancelMinutes: 90 };
    await until(() => sent.length === 2);
    expect(sent).toEqual([
      {
        idleMinutes: 0,
        noKernelMinutes: 5,
        gpuIdleMinutes: 30,
        gpuIdleCancelMinutes: 0
      },
      {
        idleMinutes: 90,
        noKernelMinutes: 5,
        gpuIdleMinutes: 30,
        gpuIdleCancelMinutes: 0
      }
    ]);
  });

  it('says why the cluster cannot be read, with a retry', async () => {
    const failing = json(
      {
        error: 'slurm_error',
        message: 'sinfo failed: Unable to contact slurm controller'
      },
      502
    );
    await open({
      'api/cluster': failing,
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [] })
    });
    await until(() => panel.node.querySelector('[role="alert"]') !== null);
    expect(panel.node.querySelector('[role="alert"]')!.textContent).toContain(
      'Cannot read the cluster: sinfo failed: Unable to contact slurm controller'
    );
  });

  it('renders cluster strings as text, never as HTML', async () => {
    const hostile = { ...gpu, name: '<img src=x onerror=alert(1)>' };
    await open({
      'api/cluster': json({
        partitions: [hostile],
        nodes: [],
        accounts: [],
        qos: [],
        fetchedAt: new Date().toISOString()
      }),
      'api/presets': json({ presets: {} }),
      'api/allocations': json({ allocations: [] })
    });
    await until(() => panel.node.querySelector('td') !== null);
    expect(panel.node.querySelector('img')).toBeNull();
    expect(panel.node.querySelector('td')!.textContent).toBe(
      '<img src=x onerror=alert(1)>'
    );
  });
});
