import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canonicalize, checksum, idempotencyKey } from "../src/index.js";

const read = (name: string) => readFileSync(new URL(`../docs/${name}`, import.meta.url), "utf8");

/** The worked examples in docs/ are computed here, so the documents cannot drift. */
describe("worked examples in docs/", () => {
  it("checksums.md: canonical text, its bytes and both checksums", () => {
    const doc = read("checksums.md");
    const value = { orderId: "o-1", total: 42.5, items: [{ sku: "é-1", qty: 2 }] };
    const text = canonicalize(value);
    expect(doc).toContain(`\n${text}\n`);
    expect(doc).toContain(`\n${Buffer.from(text).toString("hex")}\n`);
    expect(doc).toContain(`${Buffer.byteLength(text)} bytes of UTF-8`);
    expect(doc).toContain(`\n${checksum(value)}\n`);
    expect(doc).toContain(`\n${checksum(value, { algorithm: "sha256" })}\n`);
    expect(doc).toContain(`== "${checksum(value)}"`);
  });

  it("idempotency-keys.md: the key of the worked example", () => {
    const doc = read("idempotency-keys.md");
    const key = idempotencyKey({ orderId: "o-1", event: "paid" });
    expect(doc).toContain(`key        ${key}`);
    expect(doc).toContain(`// "${key}"`);
    expect(doc).toContain(`JCS        ${canonicalize({ orderId: "o-1", event: "paid" })}`);
  });

  it("canonical-form.md: the examples at the top", () => {
    const doc = read("canonical-form.md");
    expect(doc).toContain(`// '${canonicalize({ b: [1, 2.5, "é"], a: null })}'`);
    expect(doc).toContain(`// '${canonicalize({ at: new Date(0) })}'`);
  });
});

const root = new URL("../", import.meta.url);
const text = (name: string) => readFileSync(new URL(name, root), "utf8");

/** The architecture a newcomer reads stays true: every file and test it names exists. */
describe("ARCHITECTURE.md and CONTRIBUTING.md", () => {
  it("name only files that exist (src/ paths may leave out src/)", () => {
    for (const name of ["ARCHITECTURE.md", "CONTRIBUTING.md"]) {
      const doc = text(name);
      const named = [
        ...doc.matchAll(/`((?:src|test|bench)\/[\w./-]+\.(?:ts|json)|[\w-]+\/[\w./-]+\.ts)`/g),
      ].map((m) => m[1] as string);
      expect(named.length, `${name} names files`).toBeGreaterThan(3);
      for (const path of named) {
        const candidates =
          path.startsWith("src/") || path.startsWith("test/") || path.startsWith("bench/")
            ? [path]
            : [`src/${path}`, path];
        const found = candidates.some((p) => {
          try {
            readFileSync(new URL(p, root));
            return true;
          } catch {
            return false;
          }
        });
        expect(found, `${name} names ${path}, which does not exist`).toBe(true);
      }
    }
  });

  it("README's relative links point at files the package ships", () => {
    const pkg = JSON.parse(text("package.json")) as { files: string[] };
    const shipped = (path: string) =>
      ["README.md", "LICENSE", "package.json"].includes(path) ||
      pkg.files.some((pattern) => {
        if (pattern.endsWith("/*.md"))
          return (
            path.startsWith(pattern.slice(0, -4)) &&
            path.endsWith(".md") &&
            !path.slice(pattern.length - 4).includes("/")
          );
        if (pattern.endsWith("/*.ts"))
          return (
            path.startsWith(pattern.slice(0, -4)) &&
            path.endsWith(".ts") &&
            !path.slice(pattern.length - 4).includes("/")
          );
        return path === pattern || path.startsWith(`${pattern}/`);
      });
    const links = [...text("README.md").matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)].map(
      (m) => m[1] as string,
    );
    expect(links.length).toBeGreaterThan(10);
    for (const link of links) {
      expect(
        () => readFileSync(new URL(link, root)),
        `README links ${link}, which does not exist`,
      ).not.toThrow();
      expect(shipped(link), `README links ${link}, which the package does not ship`).toBe(true);
    }
  });
});
