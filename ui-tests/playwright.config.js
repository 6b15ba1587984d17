/**
 * Galata in Debian's Chromium (never a downloaded browser), against a real `jupyter lab` that runs
 * as the ordinary test user with the testbed behind it.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

module.exports = {
  ...baseConfig,
  // Under JupyterHub: playwright.hub.config.js; as on a laptop: playwright.laptop.config.js.
  testIgnore: ['hub.spec.ts', 'laptop.spec.ts'],
  workers: 1,
  retries: 0,
  reporter: [
    ['list'],
    [
      'json',
      {
        outputFile:
          process.env.PLAYWRIGHT_JSON_OUTPUT_NAME || 'test-results/results.json'
      }
    ]
  ],
  use: {
    ...baseConfig.use,
    baseURL: 'http://localhost:8890',
    // A laptop screen: at 1024 px a notebook toolbar with a long kernel name wraps over the first cell.
    viewport: { width: 1280, height: 800 },
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    command: 'npm start',
    url: 'http://localhost:8890/lab',
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
