/**
 * An allocation's GPUs on its card, in real Chromium against the testbed, whose nodes' stand-in
 * nvidia-smi replays real captures: the model × count and memory its kernels see, and a chart per
 * GPU filling with the job's samples while its GPUs are busy (the README's screenshot).
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'node:child_process';
import { API, cancelAll, fillGpuRequest, openPanel } from './steps';

const SHOTS = 'test-results/screenshots';
const FAULT = '/usr/local/sbin/slurm-kernels-testbed-fault';
const CAPTURES: Record<string, { busy: string; idle: string; model: string }> =
  {
    node1: {
      busy: 'h100-idle-and-burn:1',
      idle: 'h100-idle-and-burn:0',
      model: 'NVIDIA H100 80GB HBM3'
    },
    node2: { busy: 'h200:1', idle: 'h200:0', model: 'NVIDIA H200' }
  };

test.describe("an allocation's GPUs", () => {
  test.afterEach(async ({ request }) => {
    for (const [node, c] of Object.entries(CAPTURES)) {
      execFileSync(FAULT, ['gpu', node, c.idle]);
    }
    await cancelAll(request);
  });

  test('shows model × count and a chart per GPU, filling as the job samples', async ({
    page,
    request
  }) => {
    test.setTimeout(240_000);
    const panel = await openPanel(page);
    await fillGpuRequest(panel, 2, '0:20:00');
    await panel.getByRole('button', { name: 'Submit' }).click();
    const card = panel.locator('.jp-SlurmKernels-allocation').first();
    await expect(card).toHaveAttribute('data-state', 'ready', {
      timeout: 60_000
    });
    const { allocations } = await (
      await request.get(`${API}/allocations`)
    ).json();
    const node = allocations.find((a: { state: string }) => a.state === 'ready')
      .node as string;
    execFileSync(FAULT, ['gpu', node, CAPTURES[node].busy]);

    await expect(card.locator('.jp-SlurmKernels-gpuSummary')).toHaveText(
      new RegExp(`^GPUs: 2× ${CAPTURES[node].model}, [\\d.]+ GiB each$`),
      { timeout: 60_000 }
    );
    await expect(card.locator('.jp-SlurmKernels-gpuWarning')).toHaveCount(0);
    const charts = card.locator('.jp-SlurmKernels-gpuCharts li');
    // The first rounds come a few intervals after the gateway's start.
    await expect(charts).toHaveCount(2, { timeout: 60_000 });
    // The job samples every 5 s; the companion asks every 10 s: a minute gives a dozen.
    await expect
      .poll(
        async () => Number(await charts.first().getAttribute('data-samples')),
        {
          timeout: 90_000
        }
      )
      .toBeGreaterThanOrEqual(8);
    await expect(charts.first()).toContainText(
      /GPU 0 · 100 % busy · [\d.]+ \/ [\d.]+ GiB/
    );
    await expect(charts.first().locator('polyline.jp-mod-use')).toHaveCount(1);
    await card.screenshot({ path: `${SHOTS}/allocation-gpus.png` });
  });
});
