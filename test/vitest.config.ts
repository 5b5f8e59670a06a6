import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Unit tests run against the source; the examples run against the built package.
    alias: [
      {
        find: /^sinkproof\/testing$/,
        replacement: fileURLToPath(new URL("../src/testing/index.ts", import.meta.url)),
      },
      {
        find: /^sinkproof\/ledger$/,
        replacement: fileURLToPath(new URL("../src/ledger/index.ts", import.meta.url)),
      },
      {
        find: /^sinkproof\/digest$/,
        replacement: fileURLToPath(new URL("../src/digest/index.ts", import.meta.url)),
      },
      {
        find: /^sinkproof$/,
        replacement: fileURLToPath(new URL("../src/index.ts", import.meta.url)),
      },
    ],
  },
  test: {
    root: fileURLToPath(new URL("..", import.meta.url)),
    include: ["test/**/*.test.ts"],
    // `npm run mutate` copies the project into .stryker-tmp/ while it runs.
    exclude: ["**/node_modules/**", ".stryker-tmp/**"],
    // One throwaway PostgreSQL server for the run, when its binaries exist.
    globalSetup: ["test/support/postgres-global-setup.ts"],
    typecheck: {
      enabled: true,
      include: ["test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Every core: vitest 4 leaves one idle by default, which on a 2-core CI machine runs
    // the files one at a time.
    maxWorkers: availableParallelism(),
  },
});
