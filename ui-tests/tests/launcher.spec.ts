/**
 * In real Chromium, against a real jupyter lab running as the test user, with the companion and the
 * Slurm testbed behind it: nothing here is mocked.
 */
import { expect, test } from '@jupyterlab/galata';

test.describe('GPU kernel on cluster', () => {
  test('the launcher tile sits in its own category, with an icon', async ({
    page
  }) => {
    const tile = page.locator('.jp-LauncherCard[data-category="HPC"]', {
      hasText: 'GPU kernel on cluster'
    });
    await expect(tile).toBeVisible();
    await expect(tile.locator('svg')).toBeVisible();
  });

  test('the tile opens the request panel with the partitions read from Slurm', async ({
    page
  }) => {
    await page
      .locator('.jp-LauncherCard', { hasText: 'GPU kernel on cluster' })
      .click();

    const panel = page.locator('.jp-SlurmKernels-requestPanel');
    await expect(
      panel.getByRole('heading', { name: 'GPU kernel on cluster' })
    ).toBeVisible();
    const gpuRow = panel
      .getByRole('table', { name: 'Partitions' })
      .locator('tr[data-partition="gpu"]');
    await expect(gpuRow).toBeVisible();
    // Two testbed nodes with gpu:tesla:2 each; free GPUs come from sinfo's GresUsed.
    await expect(gpuRow).toContainText(/\d of 4 GPUs free \(tesla\)/);
    await expect(gpuRow).toContainText('08:00:00');

    const picker = panel.getByRole('combobox', { name: 'Partition' });
    await expect(picker).toHaveValue('cpu'); // the default partition, which has GPUs on the testbed
    await picker.selectOption('gpu');
    await expect(panel).toContainText('Time limit 08:00:00 · 2 nodes');
  });

  test('the command palette opens the same panel', async ({ page }) => {
    await page.keyboard.press('Control+Shift+c');
    await page
      .locator('.lm-CommandPalette-input')
      .fill('GPU kernel on cluster');
    await page.keyboard.press('Enter');
    await expect(
      page.locator('.jp-SlurmKernels-requestPanel tr[data-partition="gpu"]')
    ).toBeVisible();
  });
});

test.describe('live updates', () => {
  test.use({ autoGoto: false });

  test("the page follows the companion's event stream through Jupyter Server", async ({
    page
  }) => {
    const events = page.waitForResponse(r =>
      /\/slurm-kernels\/clusters\/local\/api\/events/.test(r.url())
    );
    await page.goto();
    const response = await events;
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toContain('text/event-stream');
  });
});
