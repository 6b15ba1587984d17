/**
 * Under JupyterHub (dev/hub/up.sh): the test user logs in through the hub's real login page (PAM,
 * a password), the hub spawns their server on the login node with a spawner's environment (no
 * login shell, no XDG_RUNTIME_DIR, no Node on PATH), and under /user/alice/ the tile, the companion,
 * a kernel on the compute node and cancel all work.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { cancelFromList } from './steps';

const HUB = process.env.SLURM_KERNELS_HUB_URL ?? 'http://10.77.0.10:8000';
const USER = process.env.TEST_USER ?? 'alice';
const PASSWORD_FILE =
  process.env.SLURM_KERNELS_HUB_PASSWORD_FILE ??
  '/run/slurm-kernels-dev/hub-password';
const LAB = `${HUB}/user/${USER}`;
const API = `${LAB}/slurm-kernels/api`;

async function logIn(page: Page): Promise<void> {
  await page.goto(`${HUB}/hub/login`);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(readFileSync(PASSWORD_FILE, 'utf8'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${LAB}/lab**`, { timeout: 120_000 });
  // A fresh workspace: the hub's user may have left notebooks open on an earlier day.
  await page.goto(`${LAB}/lab?reset`);
}

/** The page's XSRF token, for API calls through the hub beside the page. */
async function xsrfHeaders(page: Page): Promise<Record<string, string>> {
  const xsrf = (await page.context().cookies(`${LAB}/`)).find(
    c => c.name === '_xsrf'
  )?.value;
  return xsrf ? { 'X-XSRFToken': xsrf } : {};
}

/** Deletes the notebooks this test opened, and their sessions. */
async function removeNotebooks(page: Page, paths: string[]): Promise<void> {
  const headers = await xsrfHeaders(page);
  const sessions = await (await page.request.get(`${LAB}/api/sessions`)).json();
  for (const session of sessions.filter((s: { path: string }) =>
    paths.includes(s.path)
  )) {
    await page.request.delete(`${LAB}/api/sessions/${session.id}`, {
      headers
    });
  }
  for (const path of paths) {
    const deleted = await page.request.delete(`${LAB}/api/contents/${path}`, {
      headers
    });
    // 404: the notebook is gone already; anything else means it may be left behind.
    expect([204, 404]).toContain(deleted.status());
  }
}

/** Cancels what a failed run left, through the hub like the page (its cookies, its XSRF token). */
async function cancelAll(page: Page): Promise<void> {
  const headers = await xsrfHeaders(page);
  const listed = await page.request.get(`${API}/allocations`);
  if (!listed.ok()) {
    return;
  }
  for (const a of (await listed.json()).allocations.filter(
    (x: { state: string }) => !['ended', 'failed'].includes(x.state)
  )) {
    await page.request.delete(`${API}/allocations/${a.id}`, { headers });
  }
}

test.describe('under JupyterHub', () => {
  const opened: string[] = [];
  test.afterEach(async ({ page }) => {
    await cancelAll(page);
    await removeNotebooks(page, opened);
  });

  test('log in, request a GPU kernel, run a cell on the node, cancel', async ({
    page
  }) => {
    test.setTimeout(300_000);
    await logIn(page);
    await page
      .locator('.jp-LauncherCard', { hasText: 'GPU kernel on cluster' })
      .click();
    const panel = page.locator('.jp-SlurmKernels-requestPanel');
    // The partitions come from the companion, which the hub's server started without Node on PATH.
    await panel
      .getByRole('combobox', { name: 'Partition' })
      .selectOption('gpu', { timeout: 60_000 });
    await panel.getByLabel('GPUs', { exact: true }).fill('1');
    await panel.getByLabel('Time limit', { exact: true }).fill('0:20:00');
    await panel.getByRole('button', { name: 'Submit' }).click();
    const card = panel.locator('.jp-SlurmKernels-allocation').first();
    await expect(card).toHaveAttribute('data-state', 'ready', {
      timeout: 90_000
    });

    const { allocations } = await (
      await page.request.get(`${API}/allocations`)
    ).json();
    const ready = allocations.find(
      (a: { state: string }) => a.state === 'ready'
    );
    const before = new Set(
      (await (await page.request.get(`${LAB}/api/sessions`)).json()).map(
        (x: { path: string }) => x.path
      )
    );
    await card.getByRole('button', { name: /Open notebook/ }).click();
    await expect
      .poll(async () => {
        const sessions = await (
          await page.request.get(`${LAB}/api/sessions`)
        ).json();
        opened.push(
          ...sessions
            .map((x: { path: string }) => x.path)
            .filter((p: string) => !before.has(p) && !opened.includes(p))
        );
        return opened.length;
      })
      .toBeGreaterThan(0);
    await expect(
      page
        .locator('#jp-main-statusbar')
        .getByRole('button', { name: /\| Idle/ })
    ).toContainText(ready.kernelspecs[0].displayName, { timeout: 60_000 });
    const editor = page.locator('.jp-Notebook .jp-Cell .cm-content').first();
    await editor.click();
    await page.keyboard.type(
      'import os, socket; print(socket.gethostname(), os.environ["SLURM_JOB_ID"])'
    );
    await page.keyboard.press('Shift+Enter');
    await expect(page.locator('.jp-OutputArea-output').first()).toHaveText(
      `${ready.node} ${ready.jobId}`,
      { timeout: 60_000 }
    );

    await cancelFromList(page, card);
  });
});
