import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import { clusterNameFor, type ClusterSummary } from '../api/clusters';
import { ClusterDirectory } from '../clusters';
import { RequestPanel } from '../widgets/RequestPanel';
import { cpuPartition, trans } from './fixtures';

const hpc: ClusterSummary = {
  name: 'hpc',
  alias: 'alice@hpc',
  local: false,
  default: true,
  login: 'up'
};

/** A companion on a laptop: no cluster until one is added; every request it got, in order. */
function laptopCompanion() {
  const clusters: ClusterSummary[] = [];
  const asked: string[] = [];
  let refuse: { status: number; body: object } | null = null;
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost/',
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = input instanceof Request ? input : null;
      const url = new URL(String(request ? request.url : input));
      const method = request?.method ?? init?.method ?? 'GET';
      asked.push(`${method} ${url.pathname}`);
      const reply = (body: unknown, status = 200) =>
        new Response(JSON.stringify(body), { status });
      if (url.pathname === '/slurm-kernels/api/clusters') {
        if (method === 'POST') {
          if (refuse) {
            return reply(refuse.body, refuse.status);
          }
          const body = JSON.parse(
            String(init?.body ?? (await request!.text()))
          );
          const added: ClusterSummary = {
            ...hpc,
            name: clusterNameFor(body.alias),
            alias: body.alias,
            default: clusters.length === 0
          };
          clusters.push(added);
          return reply(added, 201);
        }
        return reply({ clusters });
      }
      if (url.pathname.endsWith('/api/cluster')) {
        return reply({
          partitions: [cpuPartition()],
          nodes: [],
          accounts: [],
          qos: [],
          fetchedAt: '2026-12-02T07:00:00.000Z'
        });
      }
      if (url.pathname.endsWith('/api/presets')) {
        return reply({ presets: {} });
      }
      if (url.pathname.endsWith('/api/allocations')) {
        return reply({ allocations: [] });
      }
      return reply({ error: 'not_found', message: 'no' }, 404);
    }
  });
  return {
    serverSettings,
    asked,
    refuseWith: (status: number, body: object) => (refuse = { status, body }),
    accept: () => (refuse = null)
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(check()).toBe(true);
}

function type(input: HTMLInputElement, value: string): void {
  Object.getOwnPropertyDescriptor(
    HTMLInputElement.prototype,
    'value'
  )!.set!.call(input, value);
  input.dispatchEvent(new Event('input', { bubbles: true }));
}

describe('Add a cluster (a lab on a laptop)', () => {
  let directory: ClusterDirectory;
  let panel: RequestPanel;

  afterEach(() => {
    panel.dispose();
    directory.dispose();
  });

  /** The panel on the companion, with these clusters added first. */
  async function openPanel(
    companion: ReturnType<typeof laptopCompanion>,
    added: { alias: string }[] = []
  ): Promise<void> {
    directory = new ClusterDirectory({
      serverSettings: companion.serverSettings
    });
    directory.modelAdded.connect((_, model) => void model.refreshCluster());
    await directory.refresh();
    for (const input of added) {
      await directory.add(input);
    }
    panel = new RequestPanel({
      directory,
      trans,
      openNotebook: () => undefined
    });
    Widget.attach(panel, document.body);
  }

  it('offers the form when there is no cluster, keeps a refused alias with why, then drives the cluster added', async () => {
    const companion = laptopCompanion();
    await openPanel(companion);
    await until(
      () => panel.node.querySelector('form.jp-SlurmKernels-addCluster') !== null
    );
    expect(panel.node.textContent).toContain('No cluster yet.');
    const alias = panel.node.querySelector(
      'input[name="alias"]'
    ) as HTMLInputElement;
    const submit = () =>
      (
        panel.node.querySelector('button[type="submit"]') as HTMLButtonElement
      ).click();
    const aliasError = () =>
      panel.node.querySelector('label:first-child [role="alert"]')?.textContent;

    // Checked here first: an alias that would be read as one of ssh's options never leaves.
    type(alias, '-oProxyCommand=x');
    submit();
    await until(() => !!aliasError());
    expect(aliasError()).toMatch(/not starting with -/);
    expect(companion.asked).not.toContain('POST /slurm-kernels/api/clusters');

    // Refused by the companion: said beside the alias, what was typed kept.
    companion.refuseWith(422, {
      error: 'bad_alias',
      message: 'hcp: no host hcp is known here',
      field: 'alias'
    });
    type(alias, 'hcp');
    submit();
    await until(() => aliasError() === 'hcp: no host hcp is known here');
    expect(alias.value).toBe('hcp');

    companion.accept();
    type(alias, 'alice@hpc');
    submit();
    await until(() => panel.node.textContent!.includes('Cluster: hpc'));
    expect(panel.node.querySelector('form.jp-SlurmKernels-addCluster')).toBe(
      null
    );
    // Its partitions are read from its own API.
    await until(() =>
      companion.asked.includes('GET /slurm-kernels/clusters/hpc/api/cluster')
    );
    await until(
      () => panel.node.querySelector('[data-partition="cpu"]') !== null
    );
    expect(directory.selected?.model.clusterName).toBe('hpc');
  });

  it('lists several clusters and switches the panel between them', async () => {
    const companion = laptopCompanion();
    await openPanel(companion, [
      { alias: 'alice@hpc' },
      { alias: 'bob@gpu-farm' }
    ]);
    // The one added last is shown; the choice names them all.
    await until(
      () => panel.node.querySelector('select[aria-label="Cluster"]') !== null
    );
    const choice = panel.node.querySelector(
      'select[aria-label="Cluster"]'
    ) as HTMLSelectElement;
    expect(Array.from(choice.options, o => o.value)).toEqual([
      'hpc',
      'gpu-farm'
    ]);
    expect(choice.value).toBe('gpu-farm');
    directory.select('hpc');
    await until(() => choice.value === 'hpc');
    expect(directory.selected?.model.clusterName).toBe('hpc');
    expect(companion.asked).toContain(
      'GET /slurm-kernels/clusters/gpu-farm/api/cluster'
    );
    expect(companion.asked).toContain(
      'GET /slurm-kernels/clusters/hpc/api/allocations'
    );
  });
});
