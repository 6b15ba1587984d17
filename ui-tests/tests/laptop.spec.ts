/**
 * A lab on the testbed's laptop (playwright.laptop.config.js, start-laptop-lab.sh): inside the
 * laptop's network and home, no cluster of its own (no Slurm there). The person adds the testbed
 * by the alias of their ~/.ssh/config in the panel; the companion logs in through the login node's
 * key + TOTP door: the lab shows the host key never seen (trusted here), then asks for the code
 * once; then the whole path runs through that one login: the form fed by the cluster, a GPU
 * kernel on the node, a cell that prints the node, its CUDA_VISIBLE_DEVICES and where it runs (the
 * notebook's folder is the laptop's only: the kernel starts in the home on the cluster), cancel.
 * Then the laptop sleeps mid-cell (its link down): the status bar says the cluster is unreachable,
 * the kernel is never dead; on waking the code is asked once more, and the cell's output arrives in
 * order.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import {
  API,
  cancelAll,
  cancelFromList,
  fillGpuRequest,
  openPanel
} from './steps';

const USER_HOME = execFileSync('getent', [
  'passwd',
  process.env.TEST_USER || 'alice'
])
  .toString()
  .split(':')[5];

/** The laptop's home, as this host sees it (dev/testbed/laptop.sh). */
const LAPTOP_HOME = `/var/lib/slurm-testbed/laptop/${process.env.TEST_USER || 'alice'}`;

/** The code the test user's phone shows now. */
function totpCode(): string {
  const secret = readFileSync(
    `${USER_HOME}/.google_authenticator`,
    'utf8'
  ).split('\n')[0];
  return execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim();
}

const FAULT = '/usr/local/sbin/slurm-kernels-testbed-fault';

/** The laptop's network link (dev/testbed/fault.sh), as root or through the test user's sudo. */
function laptopLink(state: 'down' | 'up'): void {
  const asRoot = process.getuid?.() === 0;
  execFileSync(asRoot ? FAULT : 'sudo', [
    ...(asRoot ? [] : ['-n', FAULT]),
    'laptop',
    state
  ]);
}

/** Answers the cluster's code dialog as the person does, once it comes. */
async function typeTheCode(page: Page, timeout: number): Promise<void> {
  const login = page.locator('.jp-Dialog', {
    hasText: 'Log in to testbed-2fa'
  });
  await expect(login).toBeVisible({ timeout });
  const code = login.getByLabel('Verification code:');
  await expect(code).toHaveAttribute('type', 'password');
  await code.fill(totpCode());
  await login.getByRole('button', { name: 'Log in' }).click();
  await expect(login).toBeHidden();
}

/**
 * From now on, every login dialog that opens is counted (see loginDialogsAgain): each dialog once,
 * once its text says so (React fills it in after the node is added).
 */
async function countLoginDialogs(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { loginDialogsAgain: number };
    w.loginDialogsAgain = 0;
    const counted = new WeakSet<Element>();
    new MutationObserver(() => {
      document.querySelectorAll('.jp-Dialog').forEach(dialog => {
        if (
          !counted.has(dialog) &&
          /Log in to/.test(dialog.textContent ?? '')
        ) {
          counted.add(dialog);
          w.loginDialogsAgain += 1;
        }
      });
    }).observe(document.body, {
      childList: true,
      subtree: true,
      characterData: true
    });
  });
}

const loginDialogsAgain = (page: Page) =>
  page.evaluate(
    () => (window as unknown as { loginDialogsAgain: number }).loginDialogsAgain
  );

interface IReady {
  id: string;
  jobId: string;
  node: string;
  kernelspecs: { name: string; displayName: string }[];
}

/**
 * One GPU from the panel's form, then a notebook on its kernel: the card, the allocation, and the
 * notebook's kernel in the status bar.
 */
async function notebookOnTheNode(
  page: Page,
  panel: Locator
): Promise<{ card: Locator; ready: IReady; kernelStatus: Locator }> {
  await fillGpuRequest(panel, 1, '0:10:00');
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
  ) as IReady;
  await card.getByRole('button', { name: /Open notebook/ }).click();
  const kernelStatus = page
    .locator('#jp-main-statusbar')
    .getByRole('button', { name: /\| (Idle|Busy|Starting|Unknown|Dead)/ });
  await expect(kernelStatus).toContainText(ready.kernelspecs[0].displayName, {
    timeout: 30_000
  });
  await page.sidebar.close('left');
  return { card, ready, kernelStatus };
}

// The login dialog comes up while the lab starts, in front of everything: the lab is ready
// once its splash is gone (Galata would wait for the launcher behind the dialog).
test.use({
  // Playwright reads a fixture's dependencies from its first parameter's pattern: none here.
  // eslint-disable-next-line no-empty-pattern
  waitForApplication: async ({}, use) => {
    await use(async page => {
      await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
    });
  }
});

test.afterEach(async ({ request }) => {
  await cancelAll(request);
});

test('adds the cluster in the panel, logs in once, then a GPU kernel on the node through that login', async ({
  page
}) => {
  test.setTimeout(240_000);
  await page
    .locator('.jp-LauncherCard', { hasText: 'GPU kernel on cluster' })
    .click();
  const panel = page.locator('.jp-SlurmKernels-requestPanel');
  await expect(panel).toContainText('No cluster yet.');
  const add = panel.getByRole('form', { name: 'Add a cluster' });
  // A slip is refused beside the field, what was typed kept.
  await add.getByLabel('SSH alias or user@host').fill('testbed 2fa');
  await add.getByRole('button', { name: 'Add cluster' }).click();
  await expect(add.getByRole('alert')).toContainText(
    'an ssh config alias or user@host'
  );
  await expect(add.getByLabel('SSH alias or user@host')).toHaveValue(
    'testbed 2fa'
  );
  await add.getByLabel('SSH alias or user@host').fill('testbed-2fa');
  await add.getByRole('button', { name: 'Add cluster' }).click();

  const hostKey = page.locator('.jp-Dialog', {
    hasText: 'Trust the host key of testbed-2fa?'
  });
  await expect(hostKey).toBeVisible({ timeout: 60_000 });
  await expect(hostKey.locator('.jp-SlurmKernels-fingerprint')).toHaveText(
    /^SHA256:[A-Za-z0-9+/]{43}$/
  );
  await hostKey.getByRole('button', { name: 'Trust and connect' }).click();

  await typeTheCode(page, 30_000);
  // From now on, any other login dialog is counted: the code must not be asked again.
  await countLoginDialogs(page);
  const trusted = readFileSync(`${LAPTOP_HOME}/.ssh/known_hosts`, 'utf8');
  expect(trusted).toMatch(/^\[10\.77\.0\.10\]:2222 ssh-ed25519 /);

  // The panel is the cluster's now: the form, fed by the cluster through the login.
  await expect(panel).toContainText('Cluster: testbed-2fa');
  await expect(panel.getByRole('combobox', { name: 'Partition' })).toBeVisible({
    timeout: 60_000
  });
  const { card, ready } = await notebookOnTheNode(page, panel);
  // Named for the cluster in the picker.
  expect(ready.kernelspecs[0].displayName).toContain(
    ` · testbed-2fa · ${ready.node} · `
  );
  await page.notebook.setCell(
    0,
    'code',
    'import os, socket; print(socket.gethostname(), os.environ["SLURM_JOB_ID"], os.environ.get("CUDA_VISIBLE_DEVICES"), os.getcwd())'
  );
  await page.notebook.runCell(0);
  // One GPU, as Slurm numbers the node's devices (no cgroup renumbers them on the testbed).
  await expect(page.locator('.jp-OutputArea-output').first()).toHaveText(
    new RegExp(`^${ready.node} ${ready.jobId} [01] ${USER_HOME}\\s*$`),
    { timeout: 30_000 }
  );
  await cancelFromList(page, card);
  // The code was asked once: no other login dialog came.
  expect(await loginDialogsAgain(page)).toBe(0);
});

/** A cell printing `tick 0` … `tick 59`, one every 2 s. */
const TICKING =
  "import time\nfor i in range(60):\n    print('tick', i, flush=True)\n    time.sleep(2)";

test('the laptop sleeps mid-cell: "cluster unreachable" meanwhile, never a dead kernel; on waking one code, then the output in order', async ({
  page
}) => {
  // On the cluster the first test added: saved, and logged in (this lab's one companion).
  test.setTimeout(360_000);
  const panel = await openPanel(page);
  await expect(panel).toContainText('Cluster: testbed-2fa');
  const { card, kernelStatus } = await notebookOnTheNode(page, panel);
  await countLoginDialogs(page);
  await page.notebook.setCell(0, 'code', TICKING);
  await page.notebook.runCell(0, { wait: false });
  const output = page.locator('.jp-OutputArea-output').first();
  await expect(output).toContainText('tick 2', { timeout: 30_000 });

  laptopLink('down');
  const asleepAt = Date.now();
  try {
    await expect(page.locator('.jp-SlurmKernels-status')).toContainText(
      'cluster unreachable',
      { timeout: 110_000 }
    );
    // Asleep for 90 s: the kernel is busy as far as the lab knows, never dead.
    while (Date.now() - asleepAt < 90_000) {
      await expect(kernelStatus).toContainText(/\| Busy/);
      await page.waitForTimeout(5_000);
    }
  } finally {
    laptopLink('up');
  }
  // Waking: the login is rebuilt by itself, and asks for the code once.
  await typeTheCode(page, 120_000);
  await expect(output).toContainText('tick 59', { timeout: 120_000 });
  const ticks = ((await output.textContent()) ?? '')
    .trim()
    .split(/\s*\n\s*/)
    .map(line => Number(/^tick (\d+)$/.exec(line)?.[1] ?? NaN));
  // In order, once each, with at most one gap: what the gateway wrote into the dead link before
  // its websocket ping timed out is lost with that link (companion/test/integration/outage.ts).
  expect(ticks[0]).toBe(0);
  expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
  expect(
    ticks.filter((t, i) => i > 0 && t !== ticks[i - 1] + 1).length
  ).toBeLessThanOrEqual(1);
  await expect(kernelStatus).toContainText(/\| Idle/);
  await expect(page.locator('.jp-SlurmKernels-status')).not.toContainText(
    'unreachable'
  );
  expect(await loginDialogsAgain(page)).toBe(1);
  await cancelFromList(page, card);
});
