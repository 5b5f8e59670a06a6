/**
 * docs/reconciliation.md gives PostgreSQL queries that compute a sink's digest in the
 * database. Here they run, as printed in the document, against the test run's server, and
 * must give `digestIndex`'s answers for every split (awkward Unicode keys included).
 */
import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestIndex, formatDigest, rowHash } from "../../src/digest/index.js";
import { checksum } from "../../src/index.js";
import type { DigestSplit } from "../../src/reconcile/types.js";
import { freshDatabase, poolOf, postgresUrl } from "../support/postgres.js";

const skip = postgresUrl === undefined;

const doc = readFileSync(new URL("../../docs/reconciliation.md", import.meta.url), "utf8");
const section = doc.slice(doc.indexOf("### A SQL sink computes its digest in one query"));
const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const [oneQuery, stored, sqlite] = blocks as [string, string, string];
const [storedDdl, storedRest] = stored.split("-- digest") as [string, string];
const [storedDigest, storedObserve] = storedRest.split("-- observeRange") as [string, string];

const keys = [
  ...Array.from({ length: 1500 }, (_, i) => `order-${i}`),
  "back\\slash",
  "quote'and\"double",
  "é composed",
  "e\u0301 decomposed",
  "emoji 😀 and 𝄞",
  "tab\tand\nnewline",
  "日本語のキー",
  "",
];
const rows = keys.map((key, i) => ({ key, checksum: checksum({ i, key }) }));
const index = digestIndex(rows);

const splits: DigestSplit[] = [
  { from: 0, to: 2 ** 32, buckets: 1 },
  { from: 0, to: 2 ** 32, buckets: 16 },
  { from: 0, to: 2 ** 32, buckets: 256 },
  { from: 2 ** 31, to: 2 ** 32, buckets: 8 },
  { from: 1024, to: 1024 + 2 ** 20 * 7, buckets: 7 },
];

describe.skipIf(skip)("the PostgreSQL digest queries of docs/reconciliation.md", () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = poolOf(await freshDatabase("digest"));
  });
  afterAll(async () => {
    await pool?.end();
  });

  const asDigests = (result: pg.QueryResult) =>
    result.rows.map((r) => ({
      bucket: Number(r.bucket),
      count: Number(r.count),
      digest: formatDigest(BigInt(r.hi), BigInt(r.lo)),
    }));

  it("the one-query digest hashes each row as rowHash does and sums like digestIndex", async () => {
    await pool.query(
      "CREATE TABLE orders_sink (key text PRIMARY KEY, checksum text NOT NULL, payload jsonb)",
    );
    for (const row of rows) {
      await pool.query("INSERT INTO orders_sink (key, checksum) VALUES ($1, $2)", [
        row.key,
        row.checksum,
      ]);
    }
    for (const split of splits) {
      const width = (split.to - split.from) / split.buckets;
      const result = await pool.query(oneQuery, [split.from, split.to, width]);
      expect(asDigests(result), JSON.stringify(split)).toEqual(await index.digest(split));
    }
  });

  it("the stored-hash table, its digest and its observeRange give the same answers", async () => {
    await pool.query(storedDdl.replaceAll("orders_sink", "orders_sink_hashed"));
    for (const row of rows) {
      const h = rowHash(row.key, row.checksum);
      await pool.query(
        "INSERT INTO orders_sink_hashed (key, checksum, row_hash, row_hi, row_lo) VALUES ($1, $2, $3, $4, $5)",
        [row.key, row.checksum, h.hash, h.hi, h.lo],
      );
    }
    const digestSql = storedDigest.replaceAll("orders_sink", "orders_sink_hashed");
    const observeSql = storedObserve.replaceAll("orders_sink", "orders_sink_hashed");
    for (const split of splits) {
      const width = (split.to - split.from) / split.buckets;
      const result = await pool.query(digestSql, [split.from, split.to, width]);
      expect(asDigests(result), JSON.stringify(split)).toEqual(await index.digest(split));
    }
    const range = { from: 2 ** 30, to: 2 ** 30 + 2 ** 28 };
    const observed = (await pool.query(observeSql, [range.from, range.to])).rows
      .map((r) => r.key as string)
      .sort();
    const expected: string[] = [];
    for await (const row of index.observeRange(range)) expected.push(row.key);
    expect(observed).toEqual(expected.sort());
    expect(observed.length).toBeGreaterThan(0);
  });
});

describe("the SQLite digest queries of docs/reconciliation.md", () => {
  const [ddl, rest] = sqlite.split("-- digest") as [string, string];
  const [digestSql, observeSql] = rest.split("-- observeRange") as [string, string];

  it("the stored-hash table, its digest and its observeRange give digestIndex's answers", async () => {
    expect(ddl).toContain("-- sqlite");
    const db = new Database(":memory:");
    db.exec(ddl);
    const insert = db.prepare(
      "INSERT INTO orders_sink (key, checksum, row_hash, row_hi, row_lo) VALUES (?, ?, ?, ?, ?)",
    );
    for (const row of rows) {
      const h = rowHash(row.key, row.checksum);
      insert.run(row.key, row.checksum, h.hash, h.hi, h.lo);
    }
    const digest = db.prepare(digestSql);
    for (const split of splits) {
      const width = (split.to - split.from) / split.buckets;
      const answer = (
        digest.all({ from: split.from, to: split.to, width }) as Record<string, number>[]
      ).map((r) => ({
        bucket: Number(r.bucket),
        count: Number(r.count),
        digest: formatDigest(r.hi as number, r.lo as number),
      }));
      expect(answer, JSON.stringify(split)).toEqual(await index.digest(split));
    }
    const range = { from: 2 ** 30, to: 2 ** 30 + 2 ** 28 };
    const observed = (
      db.prepare(observeSql).all({ from: range.from, to: range.to }) as { key: string }[]
    )
      .map((r) => r.key)
      .sort();
    const expected: string[] = [];
    for await (const row of index.observeRange(range)) expected.push(row.key);
    expect(observed).toEqual(expected.sort());
    expect(observed.length).toBeGreaterThan(0);
    db.close();
  });
});
