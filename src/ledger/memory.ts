/**
 * `MemoryLedger`: the whole ledger in this process's memory. For unit tests, for
 * embedding, and for pipelines whose durability lives elsewhere.
 *
 * Durability: none. Everything is lost when the process exits. Every operation is
 * synchronous under the hood, so each is atomic within the process.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { readOptions } from "../internal/options.js";
import {
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  LEDGER_OPTION_KEYS,
  type LedgerOptions,
  planAppend,
  type ReceiptsCompacted,
} from "./base.js";
import { type IndexedRow, LazyRowIndex } from "./row-index.js";
import { ClaimTable, FreezeTable, ReceiptIndex } from "./state.js";
import type {
  AppendedEntry,
  AuditHead,
  AuditRecord,
  BucketDigest,
  Claim,
  ClaimResult,
  DigestScope,
  DigestSplit,
  HashRange,
  LedgerCapabilities,
  LedgerEntry,
  Receipt,
  ReconcileCheckpoint,
  SinkFreeze,
  WindowSample,
} from "./types.js";
import { isFinalStatus } from "./validate.js";
import { WindowHistories } from "./windows.js";

const CAPABILITIES: LedgerCapabilities = Object.freeze({
  durability: "none",
  concurrency: "single-process",
  claims: "process",
  clock: "injected",
});

/** The rows of `entries` at positions `from` to `to`, for the row index. */
function* rowsOf(entries: readonly LedgerEntry[], from: number, to: number): Iterable<IndexedRow> {
  for (let position = from; position <= to; position++) {
    const { envelope } = entries[position - 1] as LedgerEntry;
    yield { position, key: envelope.key, checksum: envelope.checksum };
  }
}

/**
 * A ledger held in memory: fast (batched appends at hundreds of thousands of envelopes a
 * second, integrity checks included), and gone when the process exits. Use it in tests
 * and wherever the ledger need not outlive the process.
 *
 * @example
 * ```ts
 * import { MemoryLedger, seal } from "sinkproof";
 * const ledger = new MemoryLedger();
 * const { results } = await ledger.append([seal({ producer: "p", seq: 0, type: "t", schema: { name: "t", version: 1 }, payload: {} })]);
 * results[0].entry.position; // 1
 * ```
 */
export class MemoryLedger extends BaseLedger {
  readonly capabilities: LedgerCapabilities = CAPABILITIES;
  readonly #entries: LedgerEntry[] = [];
  readonly #byKey = new Map<string, LedgerEntry>();
  readonly #byId = new Map<string, LedgerEntry>();
  readonly #sequences = new Map<string, number>();
  readonly #receipts = new ReceiptIndex();
  readonly #watermarks = new Map<string, number>();
  readonly #claims = new ClaimTable();
  readonly #freezes = new FreezeTable();
  readonly #audit: AuditRecord[] = [];
  readonly #checkpoints = new Map<string, ReconcileCheckpoint>();
  readonly #windows = new WindowHistories();
  readonly #rowIndex = new LazyRowIndex((from, to) => rowsOf(this.#entries, from, to));

  /**
   * It hands back the frozen entries the core checked at append, and nothing lies between:
   * reads need no second check. A subclass may return anything, so it is checked.
   */
  protected override readonly readsVerified: boolean = this.constructor === MemoryLedger;

  constructor(options: LedgerOptions = {}) {
    super(readOptions<LedgerOptions>(options, "options", LEDGER_OPTION_KEYS));
  }

  protected async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
  ): Promise<AppendOutcome> {
    const plan = planAppend(
      envelopes,
      (key) => this.#byKey.get(key),
      (id) => this.#byId.get(id),
    );
    if (!plan.ok) return plan;
    const results: AppendedEntry[] = new Array(envelopes.length);
    for (const [index, entry] of plan.existing) results[index] = { entry, status: "existing" };
    for (const index of plan.fresh) {
      const envelope = envelopes[index] as Envelope;
      const entry: LedgerEntry = Object.freeze({
        position: this.#entries.length + 1,
        appendedAt,
        envelope,
      });
      this.#entries.push(entry);
      this.#byKey.set(envelope.key, entry);
      this.#byId.set(envelope.id, entry);
      results[index] = { entry, status: "appended" };
    }
    return { ok: true, results };
  }

  protected async _getByKey(key: string): Promise<LedgerEntry | undefined> {
    return this.#byKey.get(key);
  }

  protected async _getById(id: string): Promise<LedgerEntry | undefined> {
    return this.#byId.get(id);
  }

  protected *_scan(scan: EntryScan): Iterable<LedgerEntry> {
    let left = scan.limit;
    for (let position = scan.from; position <= scan.to && left > 0; position++) {
      const entry = this.#entries[position - 1];
      if (entry === undefined) return;
      if (scan.producer !== undefined && entry.envelope.producer !== scan.producer) continue;
      if (scan.stream !== undefined && entry.envelope.stream !== scan.stream) continue;
      left--;
      yield entry;
    }
  }

  protected async _head(): Promise<number> {
    return this.#entries.length;
  }

  protected async _reserveSequence(producer: string, count: number): Promise<number> {
    const first = this.#sequences.get(producer) ?? 0;
    this.#sequences.set(producer, first + count);
    return first;
  }

  protected async _putReceipt(receipt: Receipt): Promise<boolean> {
    if (
      receipt.fencingToken !== undefined &&
      isFinalStatus(receipt.status) &&
      this.#claims.fenced(receipt.sink, receipt.key, receipt.fencingToken)
    ) {
      return false;
    }
    this.#receipts.put(receipt);
    return true;
  }

  protected async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    return this.#receipts.get(sink, key);
  }

  protected override async _getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    return keys.map((key) => this.#receipts.get(sink, key));
  }

  protected async *_scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt> {
    yield* this.#receipts.scan(sink, from, to);
  }

  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    const removed = this.#receipts.compact(sink, through);
    return { removed, record: this.#appendRecord(make) };
  }

  protected override async _digestBuckets(
    split: DigestSplit,
    scope: DigestScope,
  ): Promise<readonly BucketDigest[]> {
    return (await this.#rowIndex.upTo(this.#entries.length)).buckets(split, scope);
  }

  protected override async _digestPositions(
    range: HashRange,
    scope: DigestScope,
  ): Promise<readonly number[]> {
    return (await this.#rowIndex.upTo(this.#entries.length)).positions(range, scope);
  }

  protected override async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    return this.#checkpoints.get(sink);
  }

  protected override async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    this.#checkpoints.set(checkpoint.sink, checkpoint);
  }

  protected override async _recordWindows(samples: readonly WindowSample[]): Promise<void> {
    this.#windows.add(samples);
  }

  protected override async _windowHistory(
    sink: string,
    limit: number,
  ): Promise<readonly unknown[]> {
    return this.#windows.get(sink, limit);
  }

  protected async _getWatermark(sink: string): Promise<number> {
    return this.#watermarks.get(sink) ?? 0;
  }

  protected async _advanceWatermark(sink: string, position: number): Promise<number> {
    const next = Math.max(this.#watermarks.get(sink) ?? 0, position);
    this.#watermarks.set(sink, next);
    return next;
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.#claims.claim(request, this.#receipts.lastFinal(request.sink, request.key));
  }

  protected async _renewClaim(claim: Claim, expiresAt: number): Promise<boolean> {
    return this.#claims.renew(claim, expiresAt);
  }

  protected async _releaseClaim(claim: Claim): Promise<boolean> {
    return this.#claims.release(claim);
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    const before = this.#freezes.find(change.sink, change.origin);
    if ((before === undefined) === (change.freeze === undefined))
      return { before, record: undefined };
    const record = this.#appendRecord(make);
    this.#freezes.set(
      change.sink,
      change.origin,
      change.freeze === undefined ? undefined : { ...change.freeze, audit: record.index },
    );
    return { before, record };
  }

  protected async _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]> {
    return sink === undefined ? this.#freezes.all() : this.#freezes.get(sink);
  }

  #appendRecord(make: (previous: AuditHead | undefined) => AuditRecord): AuditRecord {
    const last = this.#audit.at(-1);
    const record = make(last === undefined ? undefined : { index: last.index, hash: last.hash });
    this.#audit.push(record);
    return record;
  }

  protected async _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    return this.#appendRecord(make);
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    yield* this.#audit.slice();
  }

  protected async _close(): Promise<void> {}
}
