/**
 * The whole path a user takes, in real Chromium against jupyter lab running as the test user, with
 * the companion and the Slurm testbed behind it: request → stages → ready → notebook on the remote
 * kernel → a cell runs on the compute node → cancel → the kernel ends.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import {
  API,
  cancelAll,
  cancelFromList,
  fillGpuRequest,
  openPanel
} from './steps';

const SHOTS = 'test-results/screenshots';

test.describe('requesting a GPU kernel', () => {
  test.afterEach(async ({ request }) => {
    await cancelAll(request);
  });

  test('an impossible request shows the error beside the field and submits nothing', async ({
    page,
    request
  }) => {
    const panel = await openPanel(page);
    const before = (await (await request.get(`${API}/allocations`)).json())
      .allocations.length;
    await panel
      .getByRole('combobox', { name: 'Partition' })
      .selectOption('gpu');
    await panel.getByLabel('GPUs', { exact: true }).fill('99');
    await expect(
      panel.locator('[data-field="gresCount"] [role="alert"]')
    ).toHaveText('no node of gpu has 99 GPUs; at most 2 per node');
    await expect(panel.getByRole('button', { name: 'Submit' })).toBeDisabled();
    await panel.getByLabel('Time limit', { exact: true }).fill('9:00:00');
    await expect(
      panel.locator('[data-field="time"] [role="alert"]')
    ).toHaveText('partition gpu allows at most 08:00:00');
    const after = (await (await request.get(`${API}/allocations`)).json())
      .allocations.length;
    expect(after).toBe(before);
  });

  test('from the form to a cell on the compute node, then cancel', async ({
    page,
    request
  }) => {
    test.setTimeout(240_000);
    const panel = await openPanel(page);
    await fillGpuRequest(panel, 1, '0:20:00');
    await expect(
      panel.getByRole('combobox', { name: 'Environment' })
    ).toHaveValue('site-python');
    await panel.locator('.jp-SlurmKernels-preview summary').click();
    await expect(panel.getByLabel('Job script preview')).toContainText(
      "source '/opt/slurm-kernels/site-env/bin/activate'"
    );
    await panel.screenshot({ path: `${SHOTS}/request-panel.png` });

    await panel.getByRole('button', { name: 'Submit' }).click();
    const card = panel.locator('.jp-SlurmKernels-allocation').first();
    await expect(card).toHaveAttribute('data-state', 'ready', {
      timeout: 60_000
    });
    await expect(
      card.locator('.jp-SlurmKernels-stages .jp-mod-current')
    ).toHaveText('kernels ready');
    await expect(card).toContainText(/left · [\d.]+ GPU-hours used/);
    await expect(page.locator('.jp-Notification-Toast-success')).toContainText(
      /is ready on node\d/
    );
    await card.screenshot({ path: `${SHOTS}/allocations-list.png` });

    // The remote kernel is in the kernel picker without waiting for JupyterLab's own poll.
    const { allocations } = await (
      await request.get(`${API}/allocations`)
    ).json();
    const ready = allocations.find(
      (a: { state: string }) => a.state === 'ready'
    );
    const spec = ready.kernelspecs[0];
    await card.getByRole('button', { name: /Open notebook/ }).click();
    const kernelStatus = page
      .locator('#jp-main-statusbar')
      .getByRole('button', { name: /\| (Idle|Busy|Starting)/ });
    await expect(kernelStatus).toContainText(spec.displayName, {
      timeout: 30_000
    });

    await page.sidebar.close('left');
    await page.notebook.setCell(
      0,
      'code',
      'import os, socket; print(socket.gethostname(), os.environ["SLURM_JOB_ID"])'
    );
    await page.notebook.runCell(0);
    await expect(page.locator('.jp-OutputArea-output').first()).toHaveText(
      `${ready.node} ${ready.jobId}`,
      {
        timeout: 30_000
      }
    );

    await kernelStatus.click();
    const picker = page.locator('.jp-Dialog');
    await expect(picker).toContainText('Select Kernel');
    await expect(
      picker
        .locator(`option[value*="${spec.name}"], :text("${spec.displayName}")`)
        .first()
    ).toBeAttached();
    await picker.locator('select').selectOption({ label: spec.displayName });
    await picker.screenshot({ path: `${SHOTS}/kernel-picker.png` });
    await picker
      .getByRole('button', { name: /Cancel|Keep/ })
      .first()
      .click();

    // Cancel from the list, confirming in the dialog.
    await cancelFromList(page, card);

    // The kernelspec is gone with the allocation; the notebook's kernel says why at the next cell.
    await expect
      .poll(
        async () => {
          const specs = await (
            await request.get('http://localhost:8890/api/kernelspecs')
          ).json();
          return spec.name in specs.kernelspecs;
        },
        { timeout: 30_000 }
      )
      .toBe(false);
    await page
      .locator('#jp-main-dock-panel .lm-TabBar-tab', { hasText: '.ipynb' })
      .first()
      .click();
    await page.notebook.runCell(0);
    await expect(page.locator('.jp-OutputArea-output').first()).toContainText(
      `AllocationEnded: Allocation ${ready.id} (job ${ready.jobId} on ${ready.node}) has ended: The job was cancelled.`,
      { timeout: 30_000 }
    );
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  });
});

test.describe('settings', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyterlab-slurm-kernels:plugin': {
        partition: 'gpu',
        gres: 'gpu:tesla:2',
        time: '0:45:00',
        memory: '1G'
      }
    }
  });

  test('defaults from the settings registry prefill the form', async ({
    page
  }) => {
    const panel = await openPanel(page);
    await expect(
      panel.getByRole('combobox', { name: 'Partition' })
    ).toHaveValue('gpu');
    await expect(panel.getByRole('combobox', { name: 'GPU type' })).toHaveValue(
      'tesla'
    );
    await expect(panel.getByLabel('GPUs', { exact: true })).toHaveValue('2');
    await expect(panel.getByLabel('Time limit', { exact: true })).toHaveValue(
      '0:45:00'
    );
    await expect(panel.getByLabel('Memory', { exact: true })).toHaveValue('1G');
  });
});
