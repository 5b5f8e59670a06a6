/**
 * vitest globalSetup: one throwaway PostgreSQL server for the whole run, when the server
 * binaries exist. Test files get its connection string with `inject("postgres")` and make
 * their own databases on it (test/support/postgres.ts). Without the binaries the
 * PostgreSQL tests are skipped with one printed line saying why; on CI (CI=true) that is
 * an error instead, because CI installs them (.ci/run).
 */
import type { TestProject } from "vitest/node";
import { findPostgres, startPostgres } from "./postgres-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    postgres: { readonly url: string } | { readonly skipped: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = findPostgres();
  if ("missing" in binaries) {
    if (process.env.CI === "true" || process.env.CI === "1") {
      throw new Error(`PostgreSQL suite cannot run on CI: ${binaries.missing}`);
    }
    console.log(`PostgreSQL suite skipped: ${binaries.missing}`);
    project.provide("postgres", { skipped: binaries.missing });
    return async () => undefined;
  }
  const server = await startPostgres(binaries);
  console.log(`PostgreSQL suite: ${binaries.version} on 127.0.0.1:${server.port}`);
  project.provide("postgres", { url: server.url });
  return async () => {
    await server.stop();
  };
}
