/**
 * What `BaseLedger` checks of an adapter's answers beyond one record (each record is
 * checked by read-checks.ts): the entry scan, the adapter's `_scan`, sync or async, under
 * one async generator that asserts the ledger open at each step, words a failure of the
 * adapter (base-errors.ts), checks every entry like any read and their order against the
 * query (`ScanOrder`); a receipt scan's order; a list of receipts; a watermark against
 * the head. Damage is a `CorruptionError` at the storage site the ledger names.
 *
 * @module
 */

import { storageError } from "./base-errors.js";
import type { EntryScan } from "./base-types.js";
import {
  checkedCount,
  checkedReceipt,
  corruption,
  ScanOrder,
  type StorageSite,
  type StoredEntry,
} from "./read-checks.js";
import type { LedgerEntry, Receipt } from "./types.js";
import type { ResolvedScan } from "./validate.js";

/** What an entry scan needs of its ledger. */
export interface ScanAccess {
  /** Throws unless the ledger is open and healthy. */
  readonly assertOpen: () => void;
  /** The head, checked to be a count. */
  readonly head: () => Promise<number>;
  /** The adapter's `_scan`. */
  readonly scan: (
    scan: EntryScan,
  ) => AsyncIterable<LedgerEntry | StoredEntry> | Iterable<LedgerEntry | StoredEntry>;
  /** Where the entries are kept, for a `CorruptionError`. */
  readonly site: () => StorageSite;
  /** An adapter's entry, checked. */
  readonly checked: (entry: LedgerEntry | StoredEntry) => LedgerEntry;
}

/** The entries of query `q` (checked already), from `ledger`'s adapter, each checked. */
export function checkedScan(ledger: ScanAccess, q: ResolvedScan): AsyncIterable<LedgerEntry> {
  // One async generator, not one per layer: a scan of a million entries pays for each
  // layer a million times.
  return {
    async *[Symbol.asyncIterator]() {
      ledger.assertOpen();
      let sync: Iterator<LedgerEntry | StoredEntry> | undefined;
      let async: AsyncIterator<LedgerEntry | StoredEntry> | undefined;
      let to: number;
      try {
        const head = await ledger.head();
        to = Math.min(q.to ?? head, head);
        if (q.limit === 0 || to < q.from) return;
        const source = ledger.scan({
          from: q.from,
          to,
          producer: q.producer,
          stream: q.stream,
          limit: q.limit,
        });
        if (typeof (source as Iterable<LedgerEntry>)?.[Symbol.iterator] === "function") {
          sync = (source as Iterable<LedgerEntry | StoredEntry>)[Symbol.iterator]();
        } else async = (source as AsyncIterable<LedgerEntry | StoredEntry>)[Symbol.asyncIterator]();
      } catch (error) {
        throw storageError(error);
      }
      const order = new ScanOrder(q, to, ledger.site());
      // An adapter's synchronous iterator is stepped without an await: one promise less
      // for each entry of a scan.
      const iterator = (sync ?? async) as
        | Iterator<LedgerEntry | StoredEntry>
        | AsyncIterator<LedgerEntry | StoredEntry>;
      let done = false;
      try {
        while (true) {
          ledger.assertOpen();
          let step: IteratorResult<LedgerEntry | StoredEntry>;
          try {
            step = sync !== undefined ? sync.next() : await iterator.next();
          } catch (error) {
            done = true;
            throw storageError(error);
          }
          if (step.done === true) {
            done = true;
            order.end();
            return;
          }
          yield order.next(ledger.checked(step.value));
        }
      } finally {
        // The consumer stopped early: let the adapter release what it holds.
        if (!done) await iterator.return?.();
      }
    },
  };
}

/** What a receipt scan needs of its ledger. */
export interface ReceiptScanAccess {
  /** The head, checked to be a count. */
  readonly head: () => Promise<number>;
  /** The adapter's `_scanReceipts`. */
  readonly scanReceipts: (sink: string, from: number, to: number) => AsyncIterable<Receipt>;
  /** Where the receipts are kept, for a `CorruptionError`. */
  readonly site: () => StorageSite;
}

/**
 * The receipts of `sink` over `from..to` (checked already; `to` undefined for no end),
 * capped at the head, from `ledger`'s adapter: each checked, and in position order within
 * the range.
 */
export async function* checkedReceiptScan(
  ledger: ReceiptScanAccess,
  sink: string,
  from: number,
  to: number | undefined,
): AsyncIterable<Receipt> {
  const last = Math.min(to ?? Number.MAX_SAFE_INTEGER, await ledger.head());
  if (last < from) return;
  const site = ledger.site();
  let previous = from;
  for await (const found of ledger.scanReceipts(sink, from, last)) {
    const receipt = checkedReceipt(found, site, sink, undefined);
    if (receipt.position < previous || receipt.position > last) {
      throw corruption(
        site,
        receipt.position,
        `a scan of the receipts of sink ${JSON.stringify(sink)} over ${from}..${last} met one at position ${receipt.position} after ${previous}`,
      );
    }
    previous = receipt.position;
    yield receipt;
  }
}

/** The receipts of (sink, key) as `_getReceipts` gave them: a list, each checked. */
export function checkedReceipts(
  receipts: unknown,
  site: StorageSite,
  sink: string,
  key: string,
): readonly Receipt[] {
  if (!Array.isArray(receipts)) {
    throw corruption(site, undefined, `the receipts of ${JSON.stringify(key)} are not a list`);
  }
  return Object.freeze(receipts.map((receipt) => checkedReceipt(receipt, site, sink, key)));
}

/** The watermark of `sink` as `_getWatermark` gave it: a count, not past `head()`. */
export async function checkedWatermark(
  given: unknown,
  site: StorageSite,
  sink: string,
  head: () => Promise<number>,
): Promise<number> {
  const watermark = checkedCount(given, site, `the watermark of ${JSON.stringify(sink)}`);
  // The head is read after the watermark: every position below a watermark was appended
  // before it was set, so a watermark past a later head is damage (or a deleted tail).
  if (watermark > 0) {
    const last = await head();
    if (watermark > last) {
      throw corruption(
        site,
        watermark,
        `the watermark of ${JSON.stringify(sink)} is ${watermark}, past the head ${last}: the watermark was altered or the last entries were deleted`,
      );
    }
  }
  return watermark;
}

/**
 * The watermark of `sink` as `_advanceWatermark` to `position` gave it (`head` was read
 * before): a count, at least `position`, and not past the head.
 */
export async function checkedRaise(
  given: unknown,
  site: StorageSite,
  sink: string,
  position: number,
  head: number,
  headNow: () => Promise<number>,
): Promise<number> {
  const raised = checkedCount(given, site, `the watermark of ${JSON.stringify(sink)}`);
  // Another process may have appended and advanced meanwhile: read the head again.
  if (raised < position || (raised > head && raised > (await headNow()))) {
    throw corruption(
      site,
      raised,
      `the watermark of ${JSON.stringify(sink)} was raised to ${position} and reads ${raised} (head ${head})`,
    );
  }
  return raised;
}
