/**
 * The read-only ledgers the reconcile benches generate: entries made on the fly, so that a
 * 30M-entry ledger costs no memory. Shared by bench/reconcile.ts and bench/big-sink.ts.
 */
import type { Envelope, Ledger, LedgerEntry } from "../src/index.js";

/**
 * A read-only ledger of `head()` entries made on the fly: entry `i` has key `keyOf(i)`,
 * checksum `sumOf(i)` and payload `{ i }`; `get` finds keys of the `keyOf` form. `extra`
 * adds methods (digests, checkpoints).
 */
export function readOnlyLedger(shape: {
  readonly head: () => number;
  readonly keyOf: (i: number) => string;
  readonly sumOf: (i: number) => string;
  readonly extra?: Record<string, unknown>;
}): Ledger {
  const appendedAt = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const { head, keyOf, sumOf } = shape;
  const entryAt = (position: number): LedgerEntry => ({
    position,
    appendedAt,
    envelope: {
      key: keyOf(position),
      checksum: sumOf(position),
      payload: { i: position },
    } as unknown as Envelope,
  });
  const ledger = {
    head: async () => head(),
    async *scan(query: { from?: number; to?: number } = {}) {
      const to = Math.min(query.to ?? head(), head());
      for (let p = query.from ?? 1; p <= to; p++) yield entryAt(p);
    },
    get: async (key: string) => {
      const digits = /(\d+)$/.exec(key);
      const p = digits === null ? 0 : Number(digits[1]);
      return p >= 1 && p <= head() && keyOf(p) === key ? entryAt(p) : undefined;
    },
    getMany: async (keys: readonly string[]) => Promise.all(keys.map((k) => ledger.get(k))),
    getReceipts: async () => [],
    async *scanReceipts() {},
    appendAudit: async () => {
      throw new Error("read-only");
    },
    async *scanAudit() {},
    freezeSink: async () => {
      throw new Error("read-only");
    },
    getFreezes: async () => [],
    ...shape.extra,
  };
  return ledger as unknown as Ledger;
}
