/**
 * Judging entries at a sink: one ledger entry against what a read-back sink holds for its
 * key (matched, duplicate, mismatched with what disagrees), a missing entry as late or
 * lost with its contradicting receipt, and the keys no ledger entry met (unexpected); the
 * observed and receipts comparers built on these. Internal.
 *
 * @module
 */

import { algorithmOf, type Checksum } from "../checksum/checksum.js";
import { InvalidArgumentError, LedgerError } from "../errors.js";
import type { Ledger, LedgerEntry, Receipt, ReceiptStatus } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";
import { copyChecksum, judgeCopy, type Slot, toHeld } from "./copies.js";
import { diffValues } from "./diff.js";
import { type Holdings, readObservations, TooManyKeys, VISITED } from "./holdings.js";
import { type Comparer, type Context, differencesOf, progress, type SinkRun } from "./run.js";
import type { MismatchedFinding, ObserveRange, ReconcileSink } from "./types.js";

/** The final receipt statuses that say the sink holds the entry. */
const SUCCESS: ReadonlySet<ReceiptStatus> = new Set(["written", "duplicate", "replayed"]);

/**
 * Judges an entry against what the sink holds for its key and adds the finding. Missing
 * entries look up their receipts (async); everything else is synchronous.
 */
export function judgeHeld(run: SinkRun, entry: LedgerEntry, slot: Slot): void {
  const target = run.expect === undefined ? entry.envelope : run.expect(entry.envelope);
  const expected = target.checksum;
  const key = entry.envelope.key;
  const sink = run.sink.name;
  if (typeof slot === "string") {
    if (slot === expected) run.tally.counts.matched++;
    else addMismatched(run, entry, expected, { observed: slot, mismatch: "checksum", count: 1 });
    return;
  }
  let bad = slot.first;
  let verdict = judgeCopy(bad, expected);
  if (verdict === undefined && slot.other !== undefined) {
    bad = slot.other;
    verdict = judgeCopy(bad, expected);
  }
  if (verdict !== undefined) {
    addMismatched(run, entry, expected, {
      observed: verdict.observed,
      mismatch: verdict.mismatch,
      ...(verdict.storedChecksum === undefined ? {} : { storedChecksum: verdict.storedChecksum }),
      count: slot.count,
      ...differencesOf(bad.hasPayload ? diffValues(target.payload, bad.payload) : undefined),
    });
    return;
  }
  if (slot.count > 1) {
    run.tally.add(
      {
        kind: "duplicate",
        sink,
        key,
        position: entry.position,
        expected,
        observed: expected,
        count: slot.count,
      },
      entry,
    );
    return;
  }
  run.tally.counts.matched++;
}

/**
 * Adds the finding that the sink does not hold `entry` as the ledger does (`expected` is
 * the checksum it should hold), with what `found` says of what it holds instead.
 */
function addMismatched(
  run: SinkRun,
  entry: LedgerEntry,
  expected: string,
  found: Omit<MismatchedFinding, "kind" | "sink" | "key" | "position" | "expected">,
): void {
  run.tally.add(
    {
      kind: "mismatched",
      sink: run.sink.name,
      key: entry.envelope.key,
      position: entry.position,
      expected,
      ...found,
    },
    entry,
  );
}

/** Age of an entry at `nowMs`. */
export function ageOf(entry: LedgerEntry, nowMs: number): number {
  return Math.max(0, nowMs - Date.parse(entry.appendedAt));
}

/**
 * Late while the entry's age is at most the lag tolerance, lost once it is older. A
 * final receipt that says the sink has it is kept on the finding (a contradiction).
 */
export async function judgeMissing(
  ctx: Context,
  run: SinkRun,
  entry: LedgerEntry,
  lastReceipt?: Receipt | null,
): Promise<void> {
  const ageMs = ageOf(entry, ctx.nowMs);
  let receipt: ReceiptStatus | undefined;
  const last =
    lastReceipt === undefined
      ? finalReceipt(await ctx.ledger.getReceipts(run.sink.name, entry.envelope.key))
      : lastReceipt;
  if (last !== null && SUCCESS.has(last.status) && last.checksum === entry.envelope.checksum)
    receipt = last.status;
  const missing = {
    sink: run.sink.name,
    key: entry.envelope.key,
    position: entry.position,
    expected:
      run.expect === undefined ? entry.envelope.checksum : run.expect(entry.envelope).checksum,
    ageMs,
    receipt,
  };
  run.tally.add(
    ageMs <= run.lagMs
      ? { kind: "missing-late", ...missing }
      : { kind: "missing-lost", ...missing },
    entry,
  );
}

function finalReceipt(receipts: readonly Receipt[]): Receipt | null {
  for (let i = receipts.length - 1; i >= 0; i--) {
    const r = receipts[i] as Receipt;
    if (isFinalStatus(r.status)) return r;
  }
  return null;
}

/**
 * The ledger's entry for a key the sink holds; undefined too for keys the ledger could
 * never hold (too long, control characters): the ledger refuses to look those up.
 */
export async function ledgerEntry(ledger: Ledger, key: string): Promise<LedgerEntry | undefined> {
  try {
    return await ledger.get(key);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return undefined;
    throw error;
  }
}

/** Leftover keys looked up in the ledger per `getMany` call. */
const LOOKUP_BATCH = 1000;

/**
 * The ledger's entries of `keys` (undefined for a key it does not hold, or could never
 * hold), in batches of {@link LOOKUP_BATCH}: one `getMany` each, or, for a batch holding a
 * key the ledger refuses to look up, one `get` per key.
 */
async function ledgerEntries(
  ledger: Ledger,
  keys: readonly string[],
): Promise<(LedgerEntry | undefined)[]> {
  try {
    return [...(await ledger.getMany(keys))];
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const out: (LedgerEntry | undefined)[] = [];
    for (const key of keys) out.push(await ledgerEntry(ledger, key));
    return out;
  }
}

/** Keys the sink holds that the scan did not meet: unexpected unless the ledger has them outside the range. */
export async function judgeLeftovers(
  ctx: Context,
  run: SinkRun,
  map: Map<string, Slot>,
): Promise<void> {
  const keys = [...map.keys()];
  for (let i = 0; i < keys.length; i += LOOKUP_BATCH) {
    const batch = keys.slice(i, i + LOOKUP_BATCH);
    const entries = await ledgerEntries(ctx.ledger, batch);
    for (const [j, key] of batch.entries()) {
      const entry = entries[j];
      // Outside the range covered, or appended since the scan began: not unexpected.
      if (
        entry !== undefined &&
        entry.envelope.key === key &&
        (entry.position < ctx.from || entry.position > ctx.to)
      ) {
        run.outOfRange++;
        continue;
      }
      const held = toHeld(map.get(key) as Slot);
      run.tally.add({
        kind: "unexpected",
        sink: run.sink.name,
        key,
        observed: copyChecksum(
          held.first,
          held.first.checksum !== undefined
            ? algorithmOf(held.first.checksum as Checksum)
            : "xxh64",
        ),
        count: held.count,
      });
    }
  }
}

export function observedComparer(ctx: Context, run: SinkRun, holdings: Holdings): Comparer {
  let slots: (Slot | undefined)[] = [];
  /** The final receipt (or null) of each missing entry of the batch being visited. */
  const receipts = new Map<number, Receipt | null>();
  const name = run.sink.name;
  return {
    run,
    basis: "observed",
    async prepare() {
      const range: ObserveRange = { from: ctx.from, to: ctx.to, since: ctx.since };
      const observe = run.sink.observe as NonNullable<ReconcileSink["observe"]>;
      slots = holdings.slots();
      let kept = 0;
      const read = await readObservations(
        observe(range),
        `${run.where}.observe()`,
        (o) => {
          if (holdings.add(slots, o)) kept++;
        },
        (n) => progress(ctx, name, "observe", n),
      );
      // In a partitioned pass each observation is counted by the partition that holds it.
      run.observations += kept;
      progress(ctx, name, "observe", read, read);
    },
    async prefetch(batch) {
      receipts.clear();
      const missing = batch.filter(({ i }) => {
        const slot = i === undefined ? undefined : slots[i];
        return slot === undefined || slot === VISITED;
      });
      if (missing.length < 2) return;
      // The receipts of the entries this sink misses, in one batch call (one query on the
      // SQL ledgers); a ledger without it, all at once (their round trips overlap).
      const keys = missing.map(({ entry }) => entry.envelope.key);
      const found =
        typeof ctx.ledger.getReceiptsMany === "function"
          ? await ctx.ledger.getReceiptsMany(name, keys)
          : await Promise.all(keys.map((key) => ctx.ledger.getReceipts(name, key)));
      if (!Array.isArray(found) || found.length !== keys.length || !found.every(Array.isArray))
        throw new LedgerError(
          "storage_error",
          `getReceiptsMany(${JSON.stringify(name)}, …) answered something other than one list per key`,
        );
      missing.forEach(({ entry }, k) => {
        receipts.set(entry.position, finalReceipt(found[k] as readonly Receipt[]));
      });
    },
    visit(entry, i) {
      const slot = i === undefined ? undefined : slots[i];
      if (slot === undefined || slot === VISITED)
        return judgeMissing(ctx, run, entry, receipts.get(entry.position));
      slots[i as number] = VISITED;
      judgeHeld(run, entry, slot);
      return undefined;
    },
    async finish() {
      // Keys the scan did not meet, in the order the sink gave them.
      const left = new Map<string, Slot>();
      const end = Math.min(slots.length, holdings.keys.length);
      for (let i = 0; i < end; i++) {
        const slot = slots[i];
        if (slot !== undefined && slot !== VISITED) left.set(holdings.keys[i] as string, slot);
      }
      slots = [];
      await judgeLeftovers(ctx, run, left);
    },
  };
}

export function receiptComparer(ctx: Context, run: SinkRun): Comparer {
  const last = new Map<string, Receipt>();
  const name = run.sink.name;
  return {
    run,
    basis: "receipts",
    async prepare() {
      if (ctx.entries === 0) return;
      for await (const receipt of ctx.ledger.scanReceipts(name, { from: ctx.from, to: ctx.to })) {
        if (!isFinalStatus(receipt.status)) continue;
        if (ctx.part !== undefined && !ctx.part(receipt.key)) continue;
        if (last.size >= ctx.maxKeys && !last.has(receipt.key)) throw new TooManyKeys(ctx.maxKeys);
        last.set(receipt.key, receipt);
      }
    },
    visit(entry) {
      const receipt = last.get(entry.envelope.key);
      if (
        receipt !== undefined &&
        SUCCESS.has(receipt.status) &&
        receipt.checksum === entry.envelope.checksum
      ) {
        run.tally.counts.matched++;
        return undefined;
      }
      if (receipt?.status === "conflict") {
        addMismatched(run, entry, entry.envelope.checksum, {});
        return undefined;
      }
      // No receipt, or `rejected`: the sink does not have it (receipts say so themselves).
      return judgeMissing(ctx, run, entry, null);
    },
    finish: async () => {},
  };
}
