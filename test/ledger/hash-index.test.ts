import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HashIndex, hashBytes, hashString } from "../../src/ledger/file/hash-index.js";

describe("HashIndex", () => {
  it("hashes a string exactly as the bytes of its UTF-8 encoding", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        const bytes = Buffer.from(s, "utf8");
        expect(hashString(s)).toBe(hashBytes(bytes, 0, bytes.length));
      }),
      { numRuns: 2000 },
    );
  });

  it("finds positions whose hashes collide, confirming each candidate", () => {
    const index = new HashIndex();
    const keys = ["a", "b", "c", "d"];
    for (let p = 1; p <= keys.length; p++) index.add(7, p); // every key on one hash
    for (const [i, key] of keys.entries()) {
      expect(index.find(7, (p) => keys[p - 1] === key)).toBe(i + 1);
    }
    expect(index.find(7, () => false)).toBeUndefined();
    expect(index.find(8, () => true)).toBeUndefined();
  });

  it("keeps every position findable as it grows past many rehashes", () => {
    const index = new HashIndex();
    const n = 50_000;
    for (let p = 1; p <= n; p++) index.add(hashString(`k${p}`), p);
    expect(index.size).toBe(n);
    for (let p = 1; p <= n; p += 997) {
      expect(index.find(hashString(`k${p}`), (q) => q === p)).toBe(p);
    }
    expect(index.find(hashString("absent"), () => true)).toBeUndefined();
  });
});
