import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

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
    it(`examples/${file} runs to completion`, () => {
      const output = execFileSync(process.execPath, ["--import", "tsx", `examples/${file}`], {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: "" },
        timeout: 60_000,
      });
      expect(output.length).toBeGreaterThan(0);
    });
  }
});
