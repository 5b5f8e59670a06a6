import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freshDatabase, postgresSkipped, postgresUrl } from "./support/postgres.js";

const root = fileURLToPath(new URL("..", import.meta.url));
// The demo has its own test (test/demo.test.ts), with fewer events.
const examples = readdirSync(new URL("../examples", import.meta.url)).filter(
  (f) => f.endsWith(".ts") && f !== "demo.ts",
);

/**
 * Every example runs as a user would run it: a separate Node process importing the
 * package by its name, which resolves (self-reference through `exports`) to the build.
 */
describe("examples run against the built package", () => {
  it("the package is built (npm test builds before it runs the tests)", () => {
    expect(
      existsSync(new URL("../dist/index.js", import.meta.url)),
      "run `npm run build` first",
    ).toBe(true);
  });

  for (const file of examples) {
    it(`examples/${file} runs to completion`, async (context) => {
      const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: "" };
      // The PostgreSQL examples get a database on the test run's server.
      if (file.startsWith("postgres-")) {
        if (postgresUrl === undefined) {
          console.log(`examples/${file} skipped: ${postgresSkipped}`);
          context.skip();
        }
        env.SINKPROOF_PG_URL = await freshDatabase("example");
      }
      const output = execFileSync(process.execPath, ["--import", "tsx", `examples/${file}`], {
        cwd: root,
        encoding: "utf8",
        env,
        timeout: 60_000,
      });
      expect(output.length).toBeGreaterThan(0);
    });
  }

  // (The demo asserts through its exit code, which test/demo.test.ts checks.)
  it("every example asserts its outcome, not only prints it", () => {
    for (const file of examples) {
      const source = readFileSync(new URL(`../examples/${file}`, import.meta.url), "utf8");
      expect(source, `examples/${file} asserts nothing`).toMatch(/from "node:assert(\/strict)?"/);
      expect(source, `examples/${file} asserts nothing`).toMatch(/\bassert(\.\w+)?\(/);
    }
  });
});
