// Holds one JupyterLab tab open in Debian's Chromium for a while, as a user leaves it open, for
// bench/slurm-load.sh. With --panel, the request panel (which shows the cluster) is open too.
//   node bench/lab-tab.js URL SECONDS [--panel]
const path = require('node:path');
const { chromium } = require(
  path.join(__dirname, '../ui-tests/node_modules/@playwright/test')
);

async function main() {
  const [url, seconds, panel] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']
  });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    const tile = page.locator('.jp-LauncherCard', {
      hasText: 'GPU kernel on cluster'
    });
    await tile.waitFor({ timeout: 60_000 });
    if (panel === '--panel') {
      await tile.click();
      await page
        .locator('.jp-SlurmKernels-requestPanel')
        .waitFor({ timeout: 30_000 });
    }
    await page.waitForTimeout(Number(seconds) * 1000);
  } finally {
    await browser.close();
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
