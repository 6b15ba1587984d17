/**
 * What a user sees when a job is lost or runs out of time, in real Chromium against the testbed:
 * a crashed gateway shows the failure with its log, Relaunch makes the same request, and the open
 * notebook moves to the new allocation's kernel; near the time limit the open notebook is saved,
 * and the end says why.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture as Page } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { API, cancelAll, fillGpuRequest, openPanel } from './steps';

const LAB = 'http://localhost:8890';

interface IAllocation {
  id: string;
  jobId: string;
  state: string;
  node: string;
  kernelspecs: { name: string; displayName: string }[];
}

async function allocations(request: APIRequestContext): Promise<IAllocation[]> {
  return (await (await request.get(`${API}/allocations`)).json()).allocations;
}

/** Submits a GPU request from the form and resolves the allocation once its card says ready. */
async function requestFromForm(
  page: Page,
  request: APIRequestContext,
  time: string
): Promise<IAllocation> {
  const before = new Set((await allocations(request)).map(a => a.id));
  const panel = await openPanel(page);
  await fillGpuRequest(panel, 1, time);
  await panel.getByRole('button', { name: 'Submit' }).click();
  return readyAfter(request, before);
}

/** The first allocation not in `before` once it is ready. */
async function readyAfter(
  request: APIRequestContext,
  before: Set<string>
): Promise<IAllocation> {
  let made: IAllocation | undefined;
  await expect
    .poll(
      async () => {
        made = (await allocations(request)).find(
          a => !before.has(a.id) && a.state === 'ready'
        );
        return made !== undefined;
      },
      { timeout: 90_000 }
    )
    .toBe(true);
  return made!;
}

/** An allocation's card in the request panel (the sidebar shows the same cards). */
function cardOf(page: Page, a: IAllocation) {
  return page.locator(
    `.jp-SlurmKernels-requestPanel [data-allocation="${a.id}"]`
  );
}

/** The notebook's kernel in the status bar. */
function kernelStatus(page: Page) {
  return page
    .locator('#jp-main-statusbar')
    .getByRole('button', { name: /\| (Idle|Busy|Starting|Unknown|Dead)/ });
}

/** Opens a notebook on the allocation's first kernel. */
async function notebookOn(page: Page, a: IAllocation): Promise<void> {
  await cardOf(page, a)
    .getByRole('button', { name: /Open notebook/ })
    .click();
  await expect(kernelStatus(page)).toContainText(a.kernelspecs[0].displayName, {
    timeout: 30_000
  });
  await page.sidebar.close('left');
}

async function runPrintsJob(page: Page, jobId: string) {
  await page.notebook.setCell(
    0,
    'code',
    'import os; print(os.environ["SLURM_JOB_ID"])'
  );
  await page.notebook.runCell(0);
  await expect(page.locator('.jp-OutputArea-output').first()).toHaveText(
    jobId,
    { timeout: 60_000 }
  );
}

/** The test user's state dir, where the companion keeps each allocation's files. */
function allocationDir(id: string): string {
  const user = process.env.TEST_USER ?? 'alice';
  const home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' })
    .trim()
    .split(':')[5];
  return path.join(home, '.local/state/slurm-kernels/allocations', id);
}

test.describe('a lost job', () => {
  test.afterEach(async ({ request }) => {
    await cancelAll(request);
  });

  test('a crashed gateway: the failure and its log, Relaunch, the notebook on the new kernel', async ({
    page,
    request
  }) => {
    test.setTimeout(300_000);
    const lost = await requestFromForm(page, request, '0:20:00');
    await notebookOn(page, lost);
    await runPrintsJob(page, lost.jobId);

    // The gateway dies on the node (killed by its pid; the testbed's nodes share one pid space).
    const { pid } = JSON.parse(
      readFileSync(path.join(allocationDir(lost.id), 'rendezvous.json'), 'utf8')
    );
    process.kill(pid, 'SIGKILL');

    await page.getByRole('tab', { name: 'GPU kernel on cluster' }).click();
    const card = cardOf(page, lost);
    await expect(card).toHaveAttribute('data-state', 'ended', {
      timeout: 60_000
    });
    await expect(card).toContainText('The job failed.');
    // The end the user did not ask for comes with the job log's last lines: the gateway killed.
    await expect(card).toContainText("The job's last lines:");
    await expect(card).toContainText(/Killed\s.*jupyter kernelgateway/);
    const before = new Set((await allocations(request)).map(a => a.id));
    await card.getByRole('button', { name: 'Relaunch' }).click();

    const relaunch = await readyAfter(request, before);
    // The open notebook now runs the relaunch's kernel of the same name, as it says.
    await expect(
      page.locator('.jp-Notification-Toast-info', {
        hasText: `in place of job ${lost.jobId}`
      })
    ).toBeVisible({ timeout: 30_000 });
    // The lost kernel was retired, not left to die: no "Kernel Restarting" dialog in the way.
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await page
      .locator('#jp-main-dock-panel .lm-TabBar-tab', { hasText: '.ipynb' })
      .first()
      .click();
    await expect(kernelStatus(page)).toContainText(
      relaunch.kernelspecs[0].displayName,
      { timeout: 30_000 }
    );
    await runPrintsJob(page, relaunch.jobId);
  });
});

test.describe('the time limit', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyterlab-slurm-kernels:plugin': { walltimeWarnings: [1] }
    }
  });

  test('saves the open notebook before the end, and says the job reached its limit', async ({
    page,
    request
  }) => {
    test.setTimeout(300_000);
    const a = await requestFromForm(page, request, '0:02:00');
    await notebookOn(page, a);
    const sessions = await (await request.get(`${LAB}/api/sessions`)).json();
    const notebook = sessions.find(
      (s: { kernel?: { name: string } }) =>
        s.kernel?.name === a.kernelspecs[0].name
    ).path as string;
    const onDisk = async () =>
      JSON.stringify(
        (
          await (
            await request.get(`${LAB}/api/contents/${notebook}?content=1`)
          ).json()
        ).content
      );
    await page.notebook.setCell(0, 'code', 'print("written before the end")');
    expect(await onDisk()).not.toContain('written before the end');

    // At the last warning (1 min left here) the notebook is saved, and the user is told.
    await expect(
      page.locator('.jp-Notification-Toast-warning', {
        hasText: 'saved 1 notebook using it'
      })
    ).toBeVisible({ timeout: 120_000 });
    await expect
      .poll(onDisk, { timeout: 10_000 })
      .toContain('written before the end');

    await page.getByRole('tab', { name: 'GPU kernel on cluster' }).click();
    const card = cardOf(page, a);
    await expect(card).toHaveAttribute('data-state', 'ended', {
      timeout: 150_000
    });
    await expect(card).toContainText('The job reached its time limit.');
    await expect(
      page.locator('.jp-Notification-Toast-error', {
        hasText: 'reached its time limit'
      })
    ).toBeVisible();
  });
});
