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
    // Every one: the position added at the moment of each rehash too.
    for (let p = 1; p <= n; p++) {
      if (index.find(hashString(`k${p}`), (q) => q === p) !== p) expect.fail(`position ${p} lost`);
    }
    expect(index.find(hashString("absent"), () => true)).toBeUndefined();
  });
});

describe("the file ledger's index structures past 2^31 and up to 2^32 positions", () => {
  it("HashIndex keeps positions up to 2^32 − 1 exact, and finds them in a table of 2^33 slots", () => {
    // Small chunks made on first use: a table of 2^33 slots costs only what is touched.
    const index = new HashIndex({ chunkBits: 10, capacity: 2 ** 33 });
    const high = 2 ** 32 - 1;
    const positions = [1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, high - 1, high];
    for (const p of positions) index.add(hashString(`k${p}`), p);
    for (const p of positions) {
      expect(index.find(hashString(`k${p}`), (q) => q === p)).toBe(p);
    }
    // Hashes from the top of the range land in the table too (slots past 2^32).
    const top = new HashIndex({ chunkBits: 10, capacity: 2 ** 33 });
    top.add(0xffff_ffff, 5);
    top.add(0xffff_ffff, 6);
    top.add(0, 7);
    expect(top.find(0xffff_ffff, (q) => q === 6)).toBe(6);
    expect(top.find(0, () => true)).toBe(7);
    expect(top.capacity).toBe(2 ** 33);
  });
});
