import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import { RequestPanel } from '../widgets/RequestPanel';

const gpuPartition = {
  name: 'gpu',
  isDefault: false,
  state: 'UP',
  maxTimeMinutes: 480,
  defaultTimeMinutes: 60,
  nodes: ['node1', 'node2'],
  totalCpus: 8,
  gpus: {
    total: 4,
    free: 3,
    types: [{ type: 'tesla', total: 4, free: 3, maxPerNode: 2 }]
  }
};
const cpuPartition = {
  ...gpuPartition,
  name: 'cpu',
  isDefault: true,
  gpus: { total: 0, free: 0, types: [] }
};

function settings(reply: () => Response): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost/',
    fetch: async () => reply()
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(check()).toBe(true);
}

describe('RequestPanel', () => {
  let panel: RequestPanel;

  afterEach(() => panel.dispose());

  it('lists the partitions and preselects one that has GPUs', async () => {
    const body = {
      partitions: [cpuPartition, gpuPartition],
      nodes: [],
      fetchedAt: new Date().toISOString()
    };
    panel = new RequestPanel({
      serverSettings: settings(() => new Response(JSON.stringify(body)))
    });
    Widget.attach(panel, document.body);
    await until(
      () => panel.node.querySelector('tr[data-partition="gpu"]') !== null
    );
    const select = panel.node.querySelector('select') as HTMLSelectElement;
    expect(select.value).toBe('gpu');
    expect(Array.from(select.options).map(o => o.textContent)).toEqual([
      'cpu (default) — no GPUs',
      'gpu — 3 of 4 GPUs free (tesla)'
    ]);
    expect(panel.node.textContent).toContain('Time limit 08:00:00 · 2 nodes');
  });

  it('shows the reason and a retry button when the cluster cannot be read', async () => {
    const error = {
      error: 'slurm_error',
      message: 'sinfo failed: Unable to contact slurm controller'
    };
    panel = new RequestPanel({
      serverSettings: settings(
        () => new Response(JSON.stringify(error), { status: 502 })
      )
    });
    Widget.attach(panel, document.body);
    await until(() => panel.node.querySelector('[role="alert"]') !== null);
    expect(panel.node.querySelector('[role="alert"]')!.textContent).toContain(
      'Cannot read the cluster: sinfo failed: Unable to contact slurm controller'
    );
    expect(panel.node.querySelector('[role="alert"] button')!.textContent).toBe(
      'Try again'
    );
  });

  it('renders cluster strings as text, never as HTML', async () => {
    const hostile = { ...gpuPartition, name: '<img src=x onerror=alert(1)>' };
    const body = {
      partitions: [hostile],
      nodes: [],
      fetchedAt: new Date().toISOString()
    };
    panel = new RequestPanel({
      serverSettings: settings(() => new Response(JSON.stringify(body)))
    });
    Widget.attach(panel, document.body);
    await until(() => panel.node.querySelector('td') !== null);
    expect(panel.node.querySelector('img')).toBeNull();
    expect(panel.node.querySelector('td')!.textContent).toBe(
      '<img src=x onerror=alert(1)>'
    );
  });
});
