/**
 * Digest mode's ledger side: a ledger that keeps row hashes answers the bucket digests
 * itself, so reconcile reads only the entries of differing buckets, never the whole
 * ledger, and finds exactly what a hashing scan finds; a ledger without them is hashed as
 * before; a stored row hash edited or a row deleted in SQL is damage, never a green report.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { digestIndex } from "../../src/digest/index.js";
import {
  CorruptionError,
  createSealer,
  type Envelope,
  type Ledger,
  LedgerError,
  MemoryLedger,
  type ReconcileReport,
  reconcile,
} from "../../src/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-digest-ledger-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const seal = createSealer();
const NOW = Date.parse("2026-06-01T12:00:00.000Z");
const clock = () => NOW;
const ledgerClock = () => NOW - 3_600_000;

const envelopes = (n: number, from = 0): Envelope[] =>
  Array.from({ length: n }, (_, i) =>
    seal({
      producer: "p",
      seq: from + i,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { i: from + i },
    }),
  );

/** Counts the entries a ledger's scans yield. */
function counted<L extends Ledger>(ledger: L): { ledger: L; scanned: () => number } {
  let scanned = 0;
  const proxy = new Proxy(ledger, {
    get(target, property, receiver) {
      if (property === "scan") {
        return (query?: unknown) => {
          const inner = target.scan(query as never);
          return {
            async *[Symbol.asyncIterator]() {
              for await (const entry of inner) {
                scanned++;
                yield entry;
              }
            },
          };
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { ledger: proxy, scanned: () => scanned };
}

/** The sink: every entry, but one missing, one altered and one stray row. */
async function sinkRows(ledger: Ledger) {
  const rows: { key: string; checksum: string }[] = [];
  for await (const entry of ledger.scan()) {
    rows.push({ key: entry.envelope.key, checksum: entry.envelope.checksum });
  }
  rows.splice(100, 1); // missing
  (rows[Math.min(2000, rows.length - 10)] as { checksum: string }).checksum =
    "xxh64:0000000000000000"; // altered
  rows.push({ key: "p/default/stray", checksum: "xxh64:0123456789abcdef" }); // unexpected
  return rows;
}

const kindsOf = (report: ReconcileReport) =>
  report.sinks[0]?.findings.map((f) => `${f.kind}@${f.position ?? f.key}`);

describe("digest mode on the ledger's own row hashes", () => {
  for (const [name, open] of [
    ["MemoryLedger", async () => new MemoryLedger({ clock: ledgerClock })],
    [
      "SqliteLedger",
      async () => SqliteLedger.open(join(root, `d${Math.random()}.db`), { clock: ledgerClock }),
    ],
  ] as const) {
    it(`${name}: reads the entries of differing buckets only, and finds what a hashing scan finds`, async () => {
      const base = await open();
      await base.append(envelopes(40_000));
      const digest = digestIndex(await sinkRows(base));
      const { ledger, scanned } = counted(base);
      const report = await reconcile({ ledger, sinks: [{ name: "kv", digest }], clock });
      expect(report.consistent).toBe(false);
      expect(report.sinks[0]?.counts).toMatchObject({
        matched: 39_998,
        "missing-lost": 1,
        mismatched: 1,
        unexpected: 1,
      });
      // The entries of the differing leaves (a few hundred), each read alone or in short runs.
      expect(scanned(), "entries read").toBeLessThan(2000);
      // The same ledger without row hashes: the scan hashes every entry; same findings.
      const bare = new Proxy(base, {
        get(target, property, receiver) {
          if (property === "digestBuckets" || property === "digestPositions")
            return async () => {
              throw new LedgerError("unsupported", "no row hashes");
            };
          const value = Reflect.get(target, property, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const counting = counted(bare);
      const hashed = await reconcile({
        ledger: counting.ledger,
        sinks: [{ name: "kv", digest }],
        clock,
      });
      expect(counting.scanned()).toBeGreaterThanOrEqual(40_000);
      expect(kindsOf(hashed)).toEqual(kindsOf(report));
      expect(hashed.sinks[0]?.counts).toEqual(report.sinks[0]?.counts);
      // Appended since: the next pass counts them, still without a scan of the rest.
      await base.append(envelopes(10, 40_000));
      const next = await reconcile({ ledger, sinks: [{ name: "kv", digest }], clock });
      expect(next.sinks[0]?.counts["missing-lost"]).toBe(11);
      await base.close();
    });
  }

  it("SqliteLedger: a row hash edited by hand, or an entry row deleted, is damage, never a green report", async () => {
    const path = join(root, "damaged.db");
    let ledger = await SqliteLedger.open(path, { clock: ledgerClock });
    await ledger.append(envelopes(300));
    const exact = digestIndex(await sinkRows(ledger));
    await ledger.close();
    const raw = new Database(path);
    // Move one row to the other half of the hash space.
    raw.exec(
      "UPDATE sinkproof_entries SET row_hash = (row_hash + 2147483648) % 4294967296 WHERE position = 7",
    );
    ledger = await SqliteLedger.open(path, { clock: ledgerClock });
    const moved = await reconcile({ ledger, sinks: [{ name: "kv", digest: exact }], clock }).catch(
      (e: unknown) => e,
    );
    expect(moved).toBeInstanceOf(CorruptionError);
    expect((moved as CorruptionError).position).toBe(7);
    await ledger.close();
    raw.exec(
      "UPDATE sinkproof_entries SET row_hash = (row_hash + 2147483648) % 4294967296 WHERE position = 7",
    );
    raw.exec("DELETE FROM sinkproof_entries WHERE position = 9");
    raw.close();
    ledger = await SqliteLedger.open(path, { clock: ledgerClock });
    const deleted = await reconcile({
      ledger,
      sinks: [{ name: "kv", digest: exact }],
      clock,
    }).catch((e: unknown) => e);
    expect((deleted as { code?: string }).code).toBe("corruption");
    await ledger.close();
  });
});
