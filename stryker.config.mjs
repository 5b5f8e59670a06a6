// @ts-check
/**
 * Mutation testing of the core (`npm run mutate`; not part of `npm test`). StrykerJS 9 (10
 * needs Node 22) with its vitest runner, over the fast tests (test/vitest.mutate.config.ts
 * says which are left out, and why).
 *
 * The scope is eight groups (GROUPS). `npm run mutate` (scripts/mutate.mjs) runs them one
 * after another, each with `SINKPROOF_MUTATE_GROUP` set: a group's results are kept in
 * `mutation/<group>.json`, StrykerJS's incremental file, which is committed, so a later
 * run (another day, another machine) re-tests only the mutants whose code or tests changed,
 * and the score of the whole scope can be read without running anything
 * (`npm run mutate -- --score`). Reports go to reports/mutation/<group>.html (not committed).
 * Without the variable (`npx stryker run`), the whole scope runs at once, with its
 * incremental file in reports/.
 */

import { readdirSync } from "node:fs";

/**
 * reconcile/ is split in four, so that a run stopped part-way (a session's end) keeps the
 * groups it finished: `digest` (digest mode and payload verification), `repair` (repair,
 * its steps, settling interrupted actions), `render` (the report writers), and `reconcile`
 * (every other file of the folder: judging, holdings, copies, options, freeze).
 */
const RECONCILE_SPLIT = {
  digest: ["src/reconcile/digest*.ts", "src/reconcile/verify-payloads.ts"],
  repair: ["src/reconcile/repair*.ts", "src/reconcile/settle.ts", "src/reconcile/interrupted.ts"],
  render: ["src/reconcile/render*.ts"],
};
const split = Object.values(RECONCILE_SPLIT)
  .flat()
  .map((glob) => new RegExp(`^${glob.replaceAll(".", "\\.").replaceAll("*", "[^/]*")}$`));
const reconcileRest = readdirSync(new URL("src/reconcile", import.meta.url))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => `src/reconcile/${f}`)
  .filter((f) => !split.some((re) => re.test(f)))
  .sort();

/** The groups of the scope, and the files each mutates. */
export const GROUPS = {
  canonical: ["src/canonical/**/*.ts", "src/checksum/**/*.ts"],
  envelope: ["src/envelope/**/*.ts"],
  ledger: ["src/ledger/base*.ts", "src/ledger/append.ts", "src/ledger/audit*.ts"],
  guard: ["src/delivery/guard*.ts", "src/delivery/watermark.ts", "src/delivery/limits.ts"],
  reconcile: reconcileRest,
  ...RECONCILE_SPLIT,
};

const group = process.env.SINKPROOF_MUTATE_GROUP;
if (group !== undefined && !Object.hasOwn(GROUPS, group)) {
  throw new Error(
    `SINKPROOF_MUTATE_GROUP=${group} is not a group: ${Object.keys(GROUPS).join(", ")}`,
  );
}
const only = group === undefined ? undefined : GROUPS[/** @type {keyof GROUPS} */ (group)];
const name = group ?? "mutation";

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "test/vitest.mutate.config.ts" },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: only ?? Object.values(GROUPS).flat(),
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
  incrementalFile:
    group === undefined ? "reports/stryker-incremental.json" : `mutation/${group}.json`,
  thresholds: { high: 90, low: 85, break: null },
  reporters: ["html", "clear-text", "progress", "json"],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  // Two cores shared by everyone.
  concurrency: 2,
  // A mutant's tests get their dry-run time × 2 plus 10 s before it counts as a timeout
  // (an infinite loop), generous on a loaded machine.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  tempDirName: ".stryker-tmp",
  // The sandbox needs the sources, tests, fixtures and docs (docs.test.ts reads docs/).
  ignorePatterns: [
    "dist",
    "docs/api",
    "coverage",
    "reports",
    "mutation",
    "scratch",
    "test/artifacts",
  ],
};
