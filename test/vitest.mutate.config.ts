/**
 * The vitest config of `npm run mutate` (stryker.config.mjs): the unit config, less the tests
 * that start real servers, browsers or processes to kill. Under mutation each test file runs
 * again for every mutant it covers, with StrykerJS's instrumented source; these tests are
 * slow there (seconds each, times thousands of mutants) and flaky (timings, SIGKILL and
 * SIGSTOP, a shared server), and they cover little of the mutated folders that the fast
 * tests do not. Left out:
 *
 * - PostgreSQL: `postgres*.test.ts`, `digest-sql.test.ts` (no server is started here: the
 *   global setup says the suite is skipped, so `sql-read-integrity` keeps its SQLite half);
 * - real processes killed or raced: `*-multiprocess.test.ts`, `file-lock`, `file-crash`,
 *   `repair-crash`;
 * - headless Chromium: `report-browser.test.ts`;
 * - the built package, which mutants never reach: `demo.test.ts`, `examples.test.ts`;
 * - the long ones, each seconds to minutes per mutant that reaches it (nearly every mutant
 *   does): `hostile.test.ts` (every public function × 59 values, minutes), the fast-check
 *   model (`model.test.ts`) and random digest drifts (`digest-property.test.ts`), a flip and
 *   a cut at every offset (`file-damage.test.ts`), and `sqlite.test.ts`, whose processes race
 *   on one file (the SQLite ledger's conformance run; the memory and file ledgers run the
 *   same suite here). The unit tests of each folder, `hostile-edges`, `options` and
 *   `mutants.test.ts` stay. `npm test` runs all of these as before.
 * - the type tests (`*.test-d.ts`): tsc over the sources proves nothing about a mutant.
 *
 * StrykerJS's vitest runner asks for the `threads` pool; the tests run in `forks`, as in the
 * unit config, since they are written for a process of their own (`process.chdir`, used by
 * docs-blocks.test.ts, is refused in a worker thread). The runner's options override the
 * config file's, so the pool is set back once the projects are resolved. The forks are not
 * isolated: one process runs file after file (and mutant after mutant) with its modules
 * loaded once, instead of a new process a file each time. Mutants are switched on at run
 * time (StrykerJS's schemata), so a loaded module serves them all; the ones that act only
 * while modules load are left out (`ignoreStatic`). On watermark.ts this halved the run
 * (4 min 39 s to 2 min 11 s, the same score) and the first full run (59 s to 20 s).
 */
import { defineConfig } from "vitest/config";
import unit from "./vitest.config.js";

export default defineConfig({
  ...unit,
  plugins: [
    {
      name: "sinkproof-mutate-forks",
      configureVitest({ project }) {
        project.config.pool = "forks";
        project.config.isolate = false;
      },
    },
  ],
  test: {
    ...unit.test,
    exclude: [
      "**/node_modules/**",
      "test/**/*-multiprocess.test.ts",
      "test/ledger/postgres*.test.ts",
      "test/reconcile/digest-sql.test.ts",
      "test/ledger/file-lock.test.ts",
      "test/ledger/file-crash.test.ts",
      "test/reconcile/repair-crash.test.ts",
      "test/reconcile/report-browser.test.ts",
      "test/demo.test.ts",
      "test/examples.test.ts",
      "test/hostile.test.ts",
      "test/ledger/model.test.ts",
      "test/ledger/file-damage.test.ts",
      "test/ledger/sqlite.test.ts",
      "test/reconcile/digest-property.test.ts",
    ],
    globalSetup: ["test/support/mutate-global-setup.ts"],
    typecheck: { enabled: false },
  },
});
