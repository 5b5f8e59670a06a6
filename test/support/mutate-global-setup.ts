/**
 * vitest globalSetup of the mutation run (test/vitest.mutate.config.ts): no PostgreSQL
 * server. Test files that read `inject("postgres")` (test/support/postgres.ts) are told the
 * suite is skipped, so a file that runs the same cases against SQLite and PostgreSQL keeps
 * its SQLite half under mutation.
 */
import type { TestProject } from "vitest/node";

export default function setup(project: TestProject): void {
  project.provide("postgres", { skipped: "no PostgreSQL server in the mutation run" });
}
