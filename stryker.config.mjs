// @ts-check
/**
 * Mutation testing of the core (`npm run mutate`; not part of `npm test`). StrykerJS 9 (10
 * needs Node 22) with its vitest runner, over the fast tests (test/vitest.mutate.config.ts
 * says which are left out, and why). Reports go to reports/ (not committed), with the
 * incremental file, so a second run re-tests only the mutants whose code or tests changed.
 * One folder only: `npx stryker run --mutate 'src/checksum/*.ts'`.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "test/vitest.mutate.config.ts" },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: [
    "src/canonical/**/*.ts",
    "src/checksum/**/*.ts",
    "src/envelope/**/*.ts",
    "src/ledger/base*.ts",
    "src/ledger/append.ts",
    "src/ledger/audit*.ts",
    "src/delivery/guard*.ts",
    "src/delivery/watermark.ts",
    "src/delivery/limits.ts",
    "src/reconcile/**/*.ts",
  ],
  coverageAnalysis: "perTest",
  // A mutant that runs while the modules load (a constant, a table, a regex, a function
  // called at import) is "static": StrykerJS cannot tell which tests need it, so it would
  // run every related test file, with a fresh module graph, for each one (100 of the 164 in
  // checksum/: hours on two cores). With ignoreStatic, one that runs only at load is left out
  // of the score (reported "Ignored": 9 in checksum/); one that also runs inside tests is
  // still tested, against those tests, with the modules reloaded. To test one file's static
  // mutants too: `npx stryker run --ignoreStatic false --mutate <file>`.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  thresholds: { high: 90, low: 85, break: null },
  reporters: ["html", "clear-text", "progress", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  // Two cores shared by everyone.
  concurrency: 2,
  // A mutant's tests get their dry-run time × 2 plus 10 s before it counts as a timeout
  // (an infinite loop), generous on a loaded machine.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  tempDirName: ".stryker-tmp",
  // The sandbox needs the sources, tests, fixtures and docs (docs.test.ts reads docs/).
  ignorePatterns: ["dist", "docs/api", "coverage", "reports", "scratch", "test/artifacts"],
};
