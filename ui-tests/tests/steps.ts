/**
 * Steps a user takes in more than one test, done as they do them.
 */
import { expect } from '@playwright/test';
import type { Locator, Page } from '@playwright/test';

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
