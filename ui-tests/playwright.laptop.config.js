/**
 * Galata against a lab as on a laptop (start-laptop-lab.sh): the same browser setup as
 * playwright.config.js, only tests/laptop.spec.ts.
 */
const config = require('./playwright.config');

module.exports = {
  ...config,
  testMatch: 'laptop.spec.ts',
  testIgnore: undefined,
  webServer: { ...config.webServer, command: 'bash ./start-laptop-lab.sh' }
};
