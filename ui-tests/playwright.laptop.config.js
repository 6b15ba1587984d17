/**
 * Galata against a lab on the testbed's laptop (start-laptop-lab.sh): the same browser setup as
 * playwright.config.js, only tests/laptop.spec.ts. The lab is stopped with SIGTERM, which reaches it
 * inside the laptop through sudo (a SIGKILL would stop sudo alone), so it stops its companion.
 */
const config = require('./playwright.config');

module.exports = {
  ...config,
  testMatch: 'laptop.spec.ts',
  testIgnore: undefined,
  webServer: {
    ...config.webServer,
    command: 'bash ./start-laptop-lab.sh',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 }
  }
};
