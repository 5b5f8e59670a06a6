import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixtures = fileURLToPath(new URL("./fixtures/vectors", import.meta.url));
const shared = fileURLToPath(new URL("../../shared/vectors", import.meta.url));

function files(dir: string, prefix = ""): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

describe("conformance vectors", () => {
  it("test/fixtures/vectors keeps the provenance README of the vectors", () => {
    expect(readFileSync(join(fixtures, "README.md"), "utf8")).toContain(
      "Never edit an expected value",
    );
  });

  // The vectors were written outside this project; the copy here must stay byte-identical.
  // A fresh clone in CI has no ../shared next to it, and then there is nothing to compare.
  const hasShared = existsSync(shared);
  it.runIf(hasShared)("are byte-identical to ../shared/vectors (never edited)", () => {
    expect(files(fixtures).sort()).toEqual(files(shared).sort());
    for (const file of files(shared)) {
      expect(
        readFileSync(join(fixtures, file)).equals(readFileSync(join(shared, file))),
        file,
      ).toBe(true);
    }
  });
  if (!hasShared) {
    console.log(
      "[sinkproof] ../shared/vectors is not present: the byte comparison of test/fixtures/vectors with it was skipped",
    );
  }
});
