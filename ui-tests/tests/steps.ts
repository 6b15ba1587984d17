/**
 * Steps a user takes in more than one test, done as they do them.
 */
import { expect } from '@playwright/test';
import type { APIRequestContext, Locator, Page } from '@playwright/test';

export const API = 'http://localhost:8890/slurm-kernels/api';

/** Opens the request panel from the launcher tile, once the cluster's partitions are in. */
export async function openPanel(page: Page): Promise<Locator> {
  await page
    .locator('.jp-LauncherCard', { hasText: 'GPU kernel on cluster' })
    .click();
  const panel = page.locator('.jp-SlurmKernels-requestPanel');
  await expect(
    panel.getByRole('combobox', { name: 'Partition' })
  ).toBeVisible();
  return panel;
}

/** Fills the form for GPUs on the gpu partition, as a user types them. */
export async function fillGpuRequest(
  panel: Locator,
  gpus: number,
  time: string
): Promise<void> {
  await panel.getByRole('combobox', { name: 'Partition' }).selectOption('gpu');
  await panel.getByLabel('GPUs', { exact: true }).fill(String(gpus));
  await panel.getByLabel('Time limit', { exact: true }).fill(time);
}

/** Leaves no job behind, whatever a test did. */
export async function cancelAll(request: APIRequestContext): Promise<void> {
  // A lab with no cluster yet (laptop mode) has none to cancel.
  const { allocations = [] } = await (
    await request.get(`${API}/allocations`)
  ).json();
  for (const a of (allocations as { id: string; state: string }[]).filter(
    (x: { state: string }) => !['ended', 'failed'].includes(x.state)
  )) {
    await request.delete(`${API}/allocations/${a.id}`);
  }
  await expect
    .poll(
      async () =>
        (
          (await (await request.get(`${API}/allocations`)).json())
            .allocations ?? []
        ).every((x: { state: string }) =>
          ['ended', 'failed'].includes(x.state)
        ),
      { timeout: 60_000 }
    )
    .toBe(true);
}

/** Cancel from the allocations list, confirming in the dialog; the card says the job ended. */
export async function cancelFromList(page: Page, card: Locator): Promise<void> {
  await page.getByRole('tab', { name: 'GPU kernel on cluster' }).click();
  await card.getByRole('button', { name: 'Cancel' }).click();
  await page
    .locator('.jp-Dialog')
    .getByRole('button', { name: 'Cancel job' })
    .click();
  await expect(card).toHaveAttribute('data-state', 'ended', {
    timeout: 60_000
  });
  await expect(card).toContainText('The job was cancelled.');
}
