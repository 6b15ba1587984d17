// Prints "passed failed" from a jest or Playwright JSON report. Skipped, todo and flaky tests, and
// suites that could not run, count as failed: a test that did not run proves nothing.
const [kind, file] = process.argv.slice(2);
const report = require(file);
if (kind === 'jest') {
  const failed =
    report.numFailedTests +
    report.numPendingTests +
    report.numTodoTests +
    report.numRuntimeErrorTestSuites;
  console.log(report.numPassedTests, failed);
} else if (kind === 'playwright') {
  const s = report.stats;
  console.log(s.expected, s.unexpected + s.skipped + s.flaky);
} else {
  throw new Error(`unknown report kind ${kind}`);
}
