/**
 * Galata under JupyterHub (dev/hub/up.sh must have started the hub): the same browser setup as
 * playwright.config.js, no lab of its own (the hub spawns it), only tests/hub.spec.ts.
 */
const config = require('./playwright.config');

module.exports = {
  ...config,
  testMatch: 'hub.spec.ts',
  testIgnore: undefined,
  webServer: undefined,
  use: { ...config.use, baseURL: undefined }
};
