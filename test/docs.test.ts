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
