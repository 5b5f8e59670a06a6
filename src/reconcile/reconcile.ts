/**
 * `reconcile`: compares what each sink really holds with what the ledger says was
 * emitted, and explains every difference.
 *
 * Expected state streams from the ledger in position order; observed state comes from
 * each sink's read-back (`observe`), its bucket digests (`digest`, for large sets), or,
 * where the sink cannot be read, from receipts alone (weaker: the report says so). Each
 * (entry, sink) pair gets exactly one finding; keys a sink holds that the ledger never
 * emitted are `unexpected`.
 *
 * The work: read every sink (its observations, or its receipts), then scan the ledger
 * range once, judging each entry at every sink, then settle what the scan could not
 * (keys the ledger never met; digest bisection). The ledger is streamed, never held:
 * memory holds the read-back sinks' observations (one map entry per key, about 50 bytes
 * beside the strings the sink gave) and, in digest mode, 28 bytes per ledger entry plus
 * the rows of differing buckets.
 *
 * A sink that cannot be read (its `observe` throws, or answers something malformed) gets
 * an `error` in its report and is not consistent; the other sinks are still reconciled.
 * Ledger failures abort the whole call.
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { algorithmOf, type Checksum, isChecksum } from "../checksum/checksum.js";
import type { Envelope } from "../envelope/schema.js";
import { InvalidArgumentError, isSinkproofError, LedgerError } from "../errors.js";
import { describe, errorSummary, invalidArgument, show } from "../internal/arguments.js";
import {
  type OptionKeys,
  optionKeys,
  readArray,
  readOptions,
  readProperty,
} from "../internal/options.js";
import type {
  Ledger,
  LedgerEntry,
  PositionRange,
  Receipt,
  ReceiptStatus,
} from "../ledger/types.js";
import { checkName, isFinalStatus } from "../ledger/validate.js";
import { logger } from "../observe/debug.js";
import { checkAccepts, checkRegistry, envelopeForSink } from "../schema/accepts.js";
import { copyChecksum, type Held, judgeCopy, merge, type Slot, toHeld } from "./copies.js";
import { diffValues } from "./diff.js";
import { HASH_SPACE, RowBuffer, rowHash, SortedRows } from "./digest.js";
import { interruptedBySink } from "./interrupted.js";
import {
  type BucketDigest,
  type ConsistencyWindow,
  FINDING_KINDS,
  type Finding,
  type FindingCounts,
  type FindingKind,
  type FreezePolicy,
  type HashRange,
  type InterruptedAction,
  type Observation,
  type ObserveRange,
  type PayloadDifference,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileReport,
  type ReconcileSink,
  type SinkDigest,
  type SinkReadFailure,
  type SinkReport,
} from "./types.js";

const log = logger("reconcile");

/** Default lag tolerance: one minute. */
export const DEFAULT_LAG_TOLERANCE_MS = 60_000;
/** Default number of findings listed per sink. */
export const DEFAULT_MAX_FINDINGS = 10_000;
const PROGRESS_EVERY = 10_000;
/** The largest time a `Date` can hold, in ms. */
const MAX_TIME_MS = 8.64e15;
/** Digest mode reads a bucket row by row once both sides hold at most this many rows. */
const LEAF_ROWS = 64;
/** Digest mode splits a differing bucket into this many. */
const FANOUT = 16;
const EMPTY_DIGEST = "0000000000000000";
const SUCCESS: ReadonlySet<ReceiptStatus> = new Set(["written", "duplicate", "replayed"]);
const FREEZE_KINDS = [
  "missing-lost",
  "duplicate",
  "mismatched",
  "unexpected",
  "contradicted",
] as const;

/**
 * The origin of the freezes a reconciliation's `freezeOn` policy puts in the ledger:
 * `repair` lifts these (and only these) once their sink converges.
 */
export const POLICY_FREEZE_ORIGIN = "reconcile";

/** `paths` and `differences` of a mismatched finding whose payload was read. */
function differencesOf(
  differences: PayloadDifference[] | undefined,
): Pick<Finding, "paths" | "differences"> {
  if (differences === undefined) return { paths: undefined };
  return { paths: differences.map((d) => d.path), differences };
}

/** Findings of one sink as they are made. */
class Tally {
  readonly counts = Object.fromEntries(FINDING_KINDS.map((kind) => [kind, 0])) as Record<
    FindingKind,
    number
  >;
  contradicted = 0;
  readonly findings: Finding[] = [];
  truncated = false;
  /** First entry (by position) that did not match. */
  firstBad: LedgerEntry | undefined;

  constructor(readonly max: number) {}

  add(finding: Finding, entry?: LedgerEntry): void {
    this.counts[finding.kind]++;
    if (finding.receipt !== undefined) this.contradicted++;
    if (
      entry !== undefined &&
      (this.firstBad === undefined || entry.position < this.firstBad.position)
    ) {
      this.firstBad = entry;
    }
    if (this.findings.length < this.max) this.findings.push(finding);
    else this.truncated = true;
  }
}

/** What every sink's comparison shares. */
interface Context {
  readonly ledger: Ledger;
  readonly from: number;
  readonly to: number;
  readonly entries: number;
  readonly since: string | undefined;
  readonly nowMs: number;
  readonly maxFindings: number;
  readonly onProgress: ((progress: ReconcileProgress) => void) | undefined;
}

/** Per-sink state of one comparison. */
interface SinkRun {
  readonly sink: ReconcileSink;
  readonly where: string;
  readonly lagMs: number;
  /** What the sink should hold for an envelope, when it holds upcast versions (`accepts`). */
  readonly expect: ((envelope: Envelope) => Envelope) | undefined;
  readonly tally: Tally;
  observations: number;
  digest: { buckets: number; differing: number; rowsRead: number } | undefined;
  error: SinkReadFailure | undefined;
  durationMs: number;
}

function progress(
  ctx: Context,
  sink: string | undefined,
  phase: ReconcileProgress["phase"],
  done: number,
  total?: number,
): void {
  if (ctx.onProgress !== undefined) ctx.onProgress({ sink, phase, done, total });
}

// ---------------------------------------------------------------------------------------
// Options

function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === "function";
}

/** Checks the `ledger` option of reconcile and repair. Internal. */
export function checkLedger(ledger: unknown): Ledger {
  const methods = [
    "head",
    "scan",
    "get",
    "getReceipts",
    "scanReceipts",
    "appendAudit",
    "scanAudit",
    "freezeSink",
    "getFreezes",
  ] as const;
  if (typeof ledger !== "object" || ledger === null)
    invalidArgument("options.ledger", `must be a Ledger, got ${describe(ledger)}`);
  for (const method of methods) {
    if (!isFunction(readProperty(ledger, method, "options.ledger"))) {
      invalidArgument("options.ledger", `must be a Ledger (it has no ${method}() method)`);
    }
  }
  return ledger as Ledger;
}

/** Checks a freeze policy: known kinds, non-negative integer thresholds. Internal. */
export function checkFreezePolicy(policy: unknown, where: string): FreezePolicy | undefined {
  if (policy === undefined) return undefined;
  const read = readOptions<FreezePolicy>(policy, where, FREEZE_KINDS, {
    what: "a kind a sink can be frozen on",
  });
  for (const [kind, value] of Object.entries(read)) {
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      invalidArgument(`${where}.${kind}`, `must be a non-negative integer, got ${describe(value)}`);
    }
  }
  return Object.freeze(read);
}

/**
 * What `sink` should hold for `envelope`: the envelope itself, or, when the sink has
 * `accepts`, its upcast into the sink's range (the envelope itself when it cannot be
 * upcast: the guard refused it, so the sink should not hold anything else). Internal
 * (repair rewrites with it).
 */
export function expectedAtSink(sink: ReconcileSink, envelope: Envelope): Envelope {
  if (sink.accepts === undefined) return envelope;
  const ranges = checkAccepts(sink.accepts, "sink.accepts");
  const version = envelopeForSink(envelope, ranges, sink.registry);
  return version.issues === undefined ? version.envelope : envelope;
}

/** {@link expectedAtSink} for one sink, its ranges checked once. */
function sinkExpectation(sink: ReconcileSink): (envelope: Envelope) => Envelope {
  const ranges = checkAccepts(sink.accepts, "sink.accepts");
  return (envelope) => {
    const version = envelopeForSink(envelope, ranges, sink.registry);
    return version.issues === undefined ? version.envelope : envelope;
  };
}

/** Checks one sink description. Internal (repair uses it too). */
export function checkSink(sink: unknown, where: string): ReconcileSink {
  if (typeof sink !== "object" || sink === null)
    invalidArgument(where, `must be a sink description, got ${describe(sink)}`);
  const s: Record<string, unknown> = readOptions<ReconcileSink>(sink, where, SINK_KEYS, {
    required: true,
  });
  checkName(s.name, `${where}.name`); // the rule receipts and guards use

  const lag = s.lagToleranceMs;
  if (lag !== undefined && (typeof lag !== "number" || !Number.isFinite(lag) || lag < 0)) {
    invalidArgument(`${where}.lagToleranceMs`, `must be a finite number ≥ 0, got ${show(lag)}`);
  }
  for (const fn of ["observe", "rewrite", "remove"] as const) {
    const value = s[fn];
    if (value === undefined) continue;
    if (!isFunction(value))
      invalidArgument(`${where}.${fn}`, `must be a function, got ${describe(value)}`);
    // Called as a method of the sink the caller gave, whatever it is.
    s[fn] = (...args: unknown[]) => Reflect.apply(value, sink, args);
  }
  if (s.digest !== undefined) {
    const d = s.digest;
    const digest =
      typeof d === "object" && d !== null
        ? readProperty(d, "digest", `${where}.digest`)
        : undefined;
    const observeRange =
      typeof d === "object" && d !== null
        ? readProperty(d, "observeRange", `${where}.digest`)
        : undefined;
    if (!isFunction(digest) || !isFunction(observeRange)) {
      invalidArgument(`${where}.digest`, "must be { digest(split), observeRange(range) }");
    }
    s.digest = Object.freeze({
      digest: (split: unknown) => Reflect.apply(digest, d, [split]),
      observeRange: (range: unknown) => Reflect.apply(observeRange, d, [range]),
    });
  }
  if (s.guard !== undefined) {
    const g = s.guard;
    const at = `${where}.guard`;
    if (
      typeof g !== "object" ||
      g === null ||
      !isFunction(readProperty(g, "deliver", at)) ||
      !isFunction(readProperty(g, "freeze", at))
    ) {
      invalidArgument(at, "must be a guard made by guardSink()");
    }
    const guardName = readProperty(g, "name", at);
    if (guardName !== s.name)
      invalidArgument(at, `is the guard of sink ${show(guardName)}, not ${show(s.name)}`);
  }
  s.freezeOn = checkFreezePolicy(s.freezeOn, `${where}.freezeOn`);
  if (s.freezeOn === undefined) delete s.freezeOn;
  const ranges = checkAccepts(s.accepts, `${where}.accepts`);
  // The ranges as checked, not the caller's object (read again later, it could differ).
  if (ranges === undefined) delete s.accepts;
  else {
    s.accepts = Object.freeze(
      Object.fromEntries(
        [...ranges].map(([name, [min, max]]) => [name, Object.freeze([min, max])]),
      ),
    );
  }
  checkRegistry(s.registry, `${where}.registry`);
  if (s.accepts !== undefined && s.digest !== undefined) {
    invalidArgument(
      `${where}.accepts`,
      "cannot be used with digest: digest mode compares row hashes of the ledger's checksums; reconcile a sink that holds upcast versions with observe",
    );
  }
  return Object.freeze(s) as unknown as ReconcileSink;
}

/** The keys of {@link ReconcileSink}. Internal (the memory sink keeps to them). */
export const SINK_KEYS: OptionKeys<ReconcileSink> = optionKeys<ReconcileSink>()(
  "name",
  "lagToleranceMs",
  "observe",
  "digest",
  "guard",
  "rewrite",
  "remove",
  "freezeOn",
  "accepts",
  "registry",
);

/** Checks the sink list: an array of sink descriptions with distinct names. Internal. */
export function checkSinks(given: unknown, where: string): readonly ReconcileSink[] {
  const sinks = readArray(given, where, 10_000);
  const names = new Set<string>();
  return sinks.map((sink, i) => {
    const checked = checkSink(sink, `${where}[${i}]`);
    if (names.has(checked.name))
      invalidArgument(`${where}[${i}].name`, `"${checked.name}" is given twice`);
    names.add(checked.name);
    return checked;
  });
}

function checkPosition(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    invalidArgument(where, `must be a positive integer, got ${show(value)}`);
  }
  return value as number;
}

// ---------------------------------------------------------------------------------------
// Observations

/** Checks one observation a sink gave. Internal (verifySinkPayloads uses it too). */
export function checkObservation(value: unknown, where: string): Observation {
  if (typeof value !== "object" || value === null) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} must be an observation { key, checksum | payload, count? }, got ${describe(value)}`,
      { path: where },
    );
  }
  const o = value as Observation;
  if (typeof o.key !== "string" || o.key.length === 0) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where}.key must be a non-empty string, got ${describe(o.key)}`,
      { path: `${where}.key` },
    );
  }
  if (o.checksum !== undefined && !isChecksum(o.checksum)) {
    throw new InvalidArgumentError(
      "invalid_checksum",
      `${where}.checksum must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits`,
      {
        path: `${where}.checksum`,
        key: o.key,
      },
    );
  }
  if (o.checksum === undefined && o.payload === undefined) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} must have a checksum or a payload`,
      { path: where, key: o.key },
    );
  }
  if (o.count !== undefined && (!Number.isSafeInteger(o.count) || o.count < 1)) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where}.count must be a positive integer, got ${show(o.count)}`,
      {
        path: `${where}.count`,
        key: o.key,
      },
    );
  }
  return o;
}

/** Adds one observation to a map of what a sink holds (digest mode's differing rows). */
function hold(map: Map<string, Slot>, o: Observation): void {
  const slot = map.get(o.key);
  const next = merge(slot, o);
  if (next !== slot) map.set(o.key, next);
}

/** Marks a key the ledger scan has judged at a sink. */
const VISITED: Held = Object.freeze({
  first: Object.freeze({ checksum: undefined, payload: undefined, hasPayload: false }),
  other: undefined,
  count: 0,
}) as Held;

/**
 * What every read-back sink holds, under one key index: each key gets a number once, and
 * each sink an array of slots by that number. The ledger scan then looks each entry's key
 * up once for all sinks (not once per sink), and nothing is deleted: judged slots are
 * marked, and what is left unmarked is what the ledger did not meet.
 */
class Holdings {
  readonly index: Map<string, number> = new Map();
  readonly keys: string[] = [];

  /** A new sink's slots: as long as the index, so that writes never leave holes. */
  slots(): (Slot | undefined)[] {
    return new Array<Slot | undefined>(this.keys.length).fill(undefined);
  }

  add(slots: (Slot | undefined)[], o: Observation): void {
    let i = this.index.get(o.key);
    if (i === undefined) {
      i = this.keys.length;
      this.index.set(o.key, i);
      this.keys.push(o.key);
    }
    const slot = slots[i];
    const next = merge(slot, o);
    if (next !== slot) {
      if (i < slots.length) slots[i] = next;
      else {
        while (slots.length < i) slots.push(undefined);
        slots.push(next);
      }
    }
  }
}

function isIterable(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (isFunction((value as AsyncIterable<unknown>)[Symbol.asyncIterator]) ||
      isFunction((value as Iterable<unknown>)[Symbol.iterator]))
  );
}

/** Reads observations into the map; returns how many were read. Internal. */
export async function readObservations(
  source: unknown,
  where: string,
  add: (o: Observation) => void,
  onEach: (n: number) => void,
): Promise<number> {
  if (!isIterable(source)) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} must return an iterable or async iterable of observations, got ${describe(source)}`,
      {
        path: where,
      },
    );
  }
  let n = 0;
  if (
    isFunction((source as Iterable<unknown>)[Symbol.iterator]) &&
    !isFunction((source as AsyncIterable<unknown>)[Symbol.asyncIterator])
  ) {
    for (const value of source as Iterable<unknown>) {
      add(checkObservation(value, `${where}[${n}]`));
      if (++n % PROGRESS_EVERY === 0) onEach(n);
    }
    return n;
  }
  for await (const value of source as AsyncIterable<unknown>) {
    add(checkObservation(value, `${where}[${n}]`));
    if (++n % PROGRESS_EVERY === 0) onEach(n);
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Judging one entry

/**
 * Judges an entry against what the sink holds for its key and adds the finding. Missing
 * entries look up their receipts (async); everything else is synchronous.
 */
function judgeHeld(run: SinkRun, entry: LedgerEntry, slot: Slot): void {
  const target = run.expect === undefined ? entry.envelope : run.expect(entry.envelope);
  const expected = target.checksum;
  const key = entry.envelope.key;
  const sink = run.sink.name;
  if (typeof slot === "string") {
    if (slot === expected) run.tally.counts.matched++;
    else {
      run.tally.add(
        {
          kind: "mismatched",
          sink,
          key,
          position: entry.position,
          expected,
          observed: slot,
          mismatch: "checksum",
          count: 1,
        },
        entry,
      );
    }
    return;
  }
  let bad = slot.first;
  let verdict = judgeCopy(bad, expected);
  if (verdict === undefined && slot.other !== undefined) {
    bad = slot.other;
    verdict = judgeCopy(bad, expected);
  }
  if (verdict !== undefined) {
    run.tally.add(
      {
        kind: "mismatched",
        sink,
        key,
        position: entry.position,
        expected,
        observed: verdict.observed,
        mismatch: verdict.mismatch,
        ...(verdict.storedChecksum === undefined ? {} : { storedChecksum: verdict.storedChecksum }),
        count: slot.count,
        ...differencesOf(bad.hasPayload ? diffValues(target.payload, bad.payload) : undefined),
      },
      entry,
    );
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

/** Age of an entry at `nowMs`. */
function ageOf(entry: LedgerEntry, nowMs: number): number {
  return Math.max(0, nowMs - Date.parse(entry.appendedAt));
}

/**
 * Late while the entry's age is at most the lag tolerance, lost once it is older. A
 * final receipt that says the sink has it is kept on the finding (a contradiction).
 */
async function judgeMissing(
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
  run.tally.add(
    {
      kind: ageMs <= run.lagMs ? "missing-late" : "missing-lost",
      sink: run.sink.name,
      key: entry.envelope.key,
      position: entry.position,
      expected:
        run.expect === undefined ? entry.envelope.checksum : run.expect(entry.envelope).checksum,
      ageMs,
      receipt,
    },
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
async function ledgerEntry(ledger: Ledger, key: string): Promise<LedgerEntry | undefined> {
  try {
    return await ledger.get(key);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return undefined;
    throw error;
  }
}

/** Keys the sink holds that the scan did not meet: unexpected unless the ledger has them outside the range. */
async function judgeLeftovers(ctx: Context, run: SinkRun, map: Map<string, Slot>): Promise<void> {
  for (const [key, slot] of map) {
    const entry = await ledgerEntry(ctx.ledger, key);
    // Outside the range covered, or appended since the scan began: not unexpected.
    if (
      entry !== undefined &&
      entry.envelope.key === key &&
      (entry.position < ctx.from || entry.position > ctx.to)
    )
      continue;
    const held = toHeld(slot);
    run.tally.add({
      kind: "unexpected",
      sink: run.sink.name,
      key,
      observed: copyChecksum(
        held.first,
        held.first.checksum !== undefined ? algorithmOf(held.first.checksum as Checksum) : "xxh64",
      ),
      count: held.count,
    });
  }
}

// ---------------------------------------------------------------------------------------
// The three bases

/**
 * One sink's comparison, in three steps around the shared ledger scan: `prepare` reads
 * the sink, `visit` judges one entry (a promise only when it must look up receipts),
 * `finish` handles what the scan could not (leftover keys, digest bisection).
 */
interface Comparer {
  readonly run: SinkRun;
  readonly basis: SinkReport["basis"];
  prepare(): Promise<void>;
  /** `i`: the entry key's number in the shared key index, when some sink holds it. */
  visit(entry: LedgerEntry, i: number | undefined): Promise<void> | undefined;
  finish(expected: SortedRows | undefined): Promise<void>;
}

function observedComparer(ctx: Context, run: SinkRun, holdings: Holdings): Comparer {
  let slots: (Slot | undefined)[] = [];
  const name = run.sink.name;
  return {
    run,
    basis: "observed",
    async prepare() {
      const range: ObserveRange = { from: ctx.from, to: ctx.to, since: ctx.since };
      const observe = run.sink.observe as NonNullable<ReconcileSink["observe"]>;
      slots = holdings.slots();
      run.observations = await readObservations(
        observe(range),
        `${run.where}.observe()`,
        (o) => holdings.add(slots, o),
        (n) => progress(ctx, name, "observe", n),
      );
      progress(ctx, name, "observe", run.observations, run.observations);
    },
    visit(entry, i) {
      const slot = i === undefined ? undefined : slots[i];
      if (slot === undefined || slot === VISITED) return judgeMissing(ctx, run, entry);
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

function receiptComparer(ctx: Context, run: SinkRun): Comparer {
  const last = new Map<string, Receipt>();
  const name = run.sink.name;
  return {
    run,
    basis: "receipts",
    async prepare() {
      if (ctx.entries === 0) return;
      for await (const receipt of ctx.ledger.scanReceipts(name, { from: ctx.from, to: ctx.to })) {
        if (isFinalStatus(receipt.status)) last.set(receipt.key, receipt);
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
        run.tally.add(
          {
            kind: "mismatched",
            sink: name,
            key: entry.envelope.key,
            position: entry.position,
            expected: entry.envelope.checksum,
          },
          entry,
        );
        return undefined;
      }
      // No receipt, or `rejected`: the sink does not have it (receipts say so themselves).
      return judgeMissing(ctx, run, entry, null);
    },
    finish: async () => {},
  };
}

function digestComparer(ctx: Context, run: SinkRun): Comparer {
  return {
    run,
    basis: "digest",
    async prepare() {
      if (ctx.from !== 1) {
        throw new InvalidArgumentError(
          "invalid_argument",
          `Digest mode compares the sink's whole table, so the range must start at position 1 (got ${ctx.from}); give the sink an observe() for partial ranges`,
          { path: "options.range.from", sink: run.sink.name },
        );
      }
    },
    visit: () => undefined, // the shared scan hashes every entry once for all digest sinks
    finish: (expected) => compareDigest(ctx, run, expected as SortedRows),
  };
}

async function entryAt(ledger: Ledger, position: number): Promise<LedgerEntry | undefined> {
  for await (const entry of ledger.scan({ from: position, to: position })) return entry;
  return undefined;
}

/**
 * The entries at sorted `positions`: one scan per run of nearby positions (gaps of up to
 * 64 are read through and skipped), so that many scattered reads become a few sequential ones.
 */
async function* entriesAt(
  ledger: Ledger,
  positions: readonly number[],
): AsyncIterable<LedgerEntry> {
  let i = 0;
  while (i < positions.length) {
    let j = i;
    while (
      j + 1 < positions.length &&
      (positions[j + 1] as number) - (positions[j] as number) <= 64
    )
      j++;
    const wanted = new Set(positions.slice(i, j + 1));
    for await (const entry of ledger.scan({ from: positions[i], to: positions[j] })) {
      if (wanted.has(entry.position)) yield entry;
    }
    i = j + 1;
  }
}

function checkBuckets(answer: unknown, buckets: number, where: string): Map<number, BucketDigest> {
  if (!Array.isArray(answer)) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} must return an array of { bucket, count, digest }, got ${describe(answer)}`,
      {
        path: where,
      },
    );
  }
  const byBucket = new Map<number, BucketDigest>();
  answer.forEach((value: unknown, i) => {
    const b = value as BucketDigest;
    const ok =
      typeof b === "object" &&
      b !== null &&
      Number.isSafeInteger(b.bucket) &&
      b.bucket >= 0 &&
      b.bucket < buckets &&
      Number.isSafeInteger(b.count) &&
      b.count >= 0 &&
      typeof b.digest === "string" &&
      /^[0-9a-f]{16}$/.test(b.digest) &&
      !byBucket.has(b.bucket);
    if (!ok) {
      throw new InvalidArgumentError(
        "invalid_argument",
        `${where}[${i}] must be { bucket: 0 to ${buckets - 1} (once each), count: integer ≥ 0, digest: 16 lowercase hex }`,
        { path: `${where}[${i}]` },
      );
    }
    byBucket.set(b.bucket, b);
  });
  return byBucket;
}

/** Bisects the hash space down to the differing leaves. */
async function bisect(
  ctx: Context,
  run: SinkRun,
  expected: SortedRows,
  digest: SinkDigest,
): Promise<HashRange[]> {
  const stats = run.digest as NonNullable<SinkRun["digest"]>;
  let initial = 1;
  while (initial * LEAF_ROWS * FANOUT < expected.length && initial < 65_536) initial *= 2;
  let pending = [{ from: 0, to: HASH_SPACE, buckets: initial }];
  const leaves: HashRange[] = [];
  while (pending.length > 0) {
    const next: typeof pending = [];
    for (const split of pending) {
      const width = (split.to - split.from) / split.buckets;
      const where = `${run.where}.digest.digest()`;
      const byBucket = checkBuckets(await digest.digest(split), split.buckets, where);
      for (let b = 0; b < split.buckets; b++) {
        const from = split.from + b * width;
        const to = from + width;
        const mine = expected.summary(from, to);
        const theirs = byBucket.get(b);
        const count = theirs?.count ?? 0;
        stats.buckets++;
        if (mine.count === count && mine.digest === (count === 0 ? EMPTY_DIGEST : theirs?.digest))
          continue;
        stats.differing++;
        if (width === 1 || (count <= LEAF_ROWS && mine.count <= LEAF_ROWS))
          leaves.push({ from, to });
        else next.push({ from, to, buckets: Math.min(FANOUT, width) });
      }
      progress(ctx, run.sink.name, "digest", stats.buckets, undefined);
    }
    pending = next;
  }
  return leaves;
}

async function compareDigest(ctx: Context, run: SinkRun, expected: SortedRows): Promise<void> {
  const digest = run.sink.digest as SinkDigest;
  run.digest = { buckets: 0, differing: 0, rowsRead: 0 };
  const leaves = await bisect(ctx, run, expected, digest);
  // Read the differing leaves row by row, on both sides.
  const map = new Map<string, Slot>();
  const positions: number[] = [];
  for (const leaf of leaves) {
    const where = `${run.where}.digest.observeRange()`;
    const inLeaf = (o: Observation): void => {
      // A row outside the range asked for would be counted twice (here and in its own bucket).
      if (o.checksum !== undefined) {
        const { hash } = rowHash(o.key, o.checksum);
        if (hash < leaf.from || hash >= leaf.to) {
          throw new InvalidArgumentError(
            "invalid_argument",
            `${where} returned ${JSON.stringify(o.key.slice(0, 80))}, whose row hash ${hash} is outside the range asked for [${leaf.from}, ${leaf.to})`,
            { path: where, key: o.key },
          );
        }
      }
      hold(map, o);
    };
    run.digest.rowsRead += await readObservations(
      digest.observeRange(leaf),
      where,
      inLeaf,
      () => {},
    );
    const { start, end } = expected.summary(leaf.from, leaf.to);
    for (let i = start; i < end; i++) positions.push(expected.ref(i));
  }
  run.observations = run.digest.rowsRead;
  positions.sort((a, b) => a - b);
  const pending: Array<() => Promise<void> | void> = [];
  for await (const entry of entriesAt(ctx.ledger, positions)) {
    const key = entry.envelope.key;
    const slot = map.get(key);
    map.delete(key);
    pending.push(
      slot === undefined ? () => judgeMissing(ctx, run, entry) : () => judgeHeld(run, entry, slot),
    );
  }
  if (pending.length !== positions.length) {
    throw new LedgerError("not_found", "Ledger entries vanished during reconciliation", {
      position: positions[0],
    });
  }
  // Keys read in a leaf whose ledger row lies in a matching bucket: the sink holds that
  // row exactly once there (the bucket matched), plus the copies read here.
  const unknown = new Map<string, Slot>();
  for (const [key, slot] of map) {
    const entry = await ledgerEntry(ctx.ledger, key);
    if (entry === undefined) {
      unknown.set(key, slot);
      continue;
    }
    if (entry.position < ctx.from || entry.position > ctx.to) continue;
    const held: Held = {
      first: { checksum: entry.envelope.checksum, payload: undefined, hasPayload: false },
      other: undefined,
      count: 1,
    };
    const extra = toHeld(slot);
    held.count += extra.count;
    held.other = extra.first; // its row hash differs from the ledger's, so its checksum does
    positions.push(entry.position);
    pending.push(() => judgeHeld(run, entry, held));
  }
  // Judge in position order so findings list in position order, as in the other modes.
  const order = positions
    .map((position, i) => ({ position, i }))
    .sort((a, b) => a.position - b.position);
  for (const { i } of order) await (pending[i] as () => Promise<void> | void)();
  // Entries outside every differing leaf matched: their buckets agreed.
  run.tally.counts.matched += expected.length - positions.length;
  await judgeLeftovers(ctx, run, unknown);
}

// ---------------------------------------------------------------------------------------
// Freeze policy

function crossed(
  policy: FreezePolicy,
  report: { counts: FindingCounts; contradicted: number },
): string | undefined {
  const over: string[] = [];
  for (const kind of FREEZE_KINDS) {
    const threshold = policy[kind];
    if (threshold === undefined) continue;
    const count = kind === "contradicted" ? report.contradicted : report.counts[kind];
    if (count > threshold) over.push(`${count} ${kind} (threshold ${threshold})`);
  }
  return over.length === 0 ? undefined : over.join(", ");
}

// ---------------------------------------------------------------------------------------
// Entry point

function failureOf(error: unknown): SinkReadFailure {
  return errorSummary(error, "sink_read_failed");
}

function isLedgerFailure(error: unknown): boolean {
  return (
    error instanceof LedgerError ||
    (isSinkproofError(error) && (error.code === "corruption" || error.code === "ledger_closed"))
  );
}

function comparerFor(
  ctx: Context,
  sink: ReconcileSink,
  where: string,
  holdings: Holdings,
): Comparer {
  const run: SinkRun = {
    sink,
    where,
    lagMs: sink.lagToleranceMs ?? DEFAULT_LAG_TOLERANCE_MS,
    expect: sink.accepts === undefined ? undefined : sinkExpectation(sink),
    tally: new Tally(ctx.maxFindings),
    observations: 0,
    digest: undefined,
    error: undefined,
    durationMs: 0,
  };
  if (sink.digest !== undefined && (ctx.from === 1 || sink.observe === undefined))
    return digestComparer(ctx, run);
  return sink.observe !== undefined
    ? observedComparer(ctx, run, holdings)
    : receiptComparer(ctx, run);
}

/** Runs one step of a comparer, timing it; a sink's failure is kept on its run, a ledger's thrown. */
async function step(comparer: Comparer, body: () => Promise<void>): Promise<void> {
  const { run } = comparer;
  if (run.error !== undefined) return;
  const started = performance.now();
  try {
    await body();
  } catch (caught) {
    if (isLedgerFailure(caught)) throw caught;
    run.error = failureOf(caught);
    log("sink %s could not be reconciled: %s", run.sink.name, run.error.message);
  } finally {
    run.durationMs += performance.now() - started;
  }
}

function sinkReport(
  ctx: Context,
  comparer: Comparer,
  interrupted: readonly InterruptedAction[],
): SinkReport {
  const { run } = comparer;
  const { tally, error } = run;
  const counts: FindingCounts = { ...tally.counts };
  const findings = [...tally.findings].sort(byPosition);
  const consistent =
    error === undefined &&
    counts["missing-lost"] === 0 &&
    counts.duplicate === 0 &&
    counts.mismatched === 0 &&
    counts.unexpected === 0;
  const window: ConsistencyWindow =
    tally.firstBad === undefined
      ? { position: ctx.to, behindEntries: 0, behindMs: 0 }
      : {
          position: tally.firstBad.position - 1,
          behindEntries: ctx.to - tally.firstBad.position + 1,
          behindMs: ageOf(tally.firstBad, ctx.nowMs),
        };
  return {
    name: run.sink.name,
    basis: comparer.basis,
    consistent,
    counts,
    contradicted: tally.contradicted,
    findings,
    truncated: tally.truncated,
    window,
    lagToleranceMs: run.lagMs,
    observations: run.observations,
    digest: run.digest,
    durationMs: run.durationMs,
    interrupted,
    error,
  };
}

function byPosition(a: Finding, b: Finding): number {
  return (a.position ?? Number.POSITIVE_INFINITY) - (b.position ?? Number.POSITIVE_INFINITY);
}

const RECONCILE_KEYS = optionKeys<ReconcileOptions>()(
  "ledger",
  "sinks",
  "clock",
  "range",
  "onProgress",
  "maxFindings",
  "freezeOn",
  "actor",
);
const RANGE_KEYS = optionKeys<PositionRange>()("from", "to");

/**
 * Compares every sink with the ledger and explains each difference.
 *
 * Reads what each sink holds (`observe`, or bucket digests in digest mode, or its
 * receipts when it cannot be read), streams the ledger range once, and gives every
 * (entry, sink) pair one finding — `matched`, `missing-late` (age ≤ the sink's lag
 * tolerance), `missing-lost`, `duplicate` or `mismatched` (with the differing JSON paths
 * when the sink's payload is at hand) — plus `unexpected` for keys the ledger never
 * emitted. Missing entries whose final receipt says the sink has them are counted as
 * `contradicted`. A sink is consistent when it has no finding but `matched` and
 * `missing-late`, and could be read.
 *
 * A row whose payload does not hash to the checksum stored beside it is never matched
 * (when the sink's answer shows both): the finding's `mismatch` says what disagrees.
 * Each sink's report also lists `interrupted`: repair actions on it that were started
 * and never recorded as finished (audit intents with no outcome).
 *
 * With `freezeOn`, a sink whose findings cross a threshold is frozen in the ledger (origin
 * `reconcile`, audited): every guard of the sink on this ledger, in any process, refuses
 * deliveries other than replays until {@link repair} converges for it.
 *
 * Throws `InvalidArgumentError` for malformed options; ledger failures propagate.
 *
 * @example
 * ```ts
 * import { reconcile } from "sinkproof";
 * const report = await reconcile({
 *   ledger,
 *   sinks: [
 *     { name: "search", lagToleranceMs: 30_000, observe: () => search.allDocs() },
 *     { name: "warehouse" }, // no read-back: receipts only (weaker)
 *   ],
 * });
 * if (!report.consistent) console.log(renderReport(report, { format: "markdown" }));
 * ```
 */
export async function reconcile(reconcileOptions: ReconcileOptions): Promise<ReconcileReport> {
  const options = readOptions<ReconcileOptions>(reconcileOptions, "options", RECONCILE_KEYS, {
    required: true,
    renamed: { now: "clock" },
  });
  const ledger = checkLedger(options.ledger);
  const sinks = checkSinks(options.sinks, "options.sinks");
  if (options.clock !== undefined && !isFunction(options.clock))
    invalidArgument("options.clock", "must be a function returning ms since the epoch");
  if (options.onProgress !== undefined && !isFunction(options.onProgress))
    invalidArgument("options.onProgress", "must be a function");
  const maxFindings = options.maxFindings ?? DEFAULT_MAX_FINDINGS;
  if (!Number.isSafeInteger(maxFindings) || maxFindings < 0) {
    invalidArgument(
      "options.maxFindings",
      `must be a non-negative integer, got ${show(maxFindings)}`,
    );
  }
  const policy = checkFreezePolicy(options.freezeOn, "options.freezeOn");
  const actor = options.actor ?? "sinkproof.reconcile";
  if (typeof actor !== "string" || actor.length === 0)
    invalidArgument("options.actor", "must be a non-empty string");
  const range = readOptions<PositionRange>(options.range, "options.range", RANGE_KEYS);
  const wantFrom = checkPosition(range.from, "options.range.from") ?? 1;
  const wantTo = checkPosition(range.to, "options.range.to");

  const clock = options.clock ?? Date.now;
  const started = performance.now();
  const nowMs = clock();
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs) || Math.abs(nowMs) > MAX_TIME_MS)
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch (a valid Date), got ${show(nowMs)}`,
    );
  const head = await ledger.head();
  const to = Math.min(wantTo ?? head, head);
  const from = wantFrom;
  const entries = Math.max(0, to - from + 1);
  const first = entries > 0 ? await entryAt(ledger, from) : undefined;
  const ctx: Context = {
    ledger,
    from,
    to: Math.max(to, from - 1),
    entries,
    since: first?.appendedAt,
    nowMs,
    maxFindings,
    onProgress: options.onProgress,
  };
  log("reconciling %d sinks over positions %d..%d", sinks.length, from, ctx.to);
  // Read before the sinks, so an action interrupted after this point shows next time.
  const interrupted = await interruptedBySink(ledger, new Set(sinks.map((s) => s.name)));
  const holdings = new Holdings();
  const comparers = sinks.map((sink, i) => comparerFor(ctx, sink, `options.sinks[${i}]`, holdings));
  // 1. Read every sink (observations, receipts).
  for (const comparer of comparers) await step(comparer, () => comparer.prepare());
  // 2. One ledger scan for every sink: each entry judged at each sink that could be read.
  const live = comparers.filter((c) => c.run.error === undefined && c.basis !== "digest");
  const hashing = comparers.some((c) => c.run.error === undefined && c.basis === "digest");
  const rows = hashing ? new RowBuffer() : undefined;
  let done = 0;
  if (entries > 0 && (live.length > 0 || hashing)) {
    for await (const entry of ledger.scan({ from, to: ctx.to })) {
      const i = holdings.index.get(entry.envelope.key);
      for (const comparer of live) {
        const pending = comparer.visit(entry, i);
        if (pending !== undefined) await pending;
      }
      if (rows !== undefined)
        rows.push(rowHash(entry.envelope.key, entry.envelope.checksum), 1, entry.position);
      if (++done % PROGRESS_EVERY === 0) progress(ctx, undefined, "compare", done, entries);
    }
  }
  progress(ctx, undefined, "compare", done, entries);
  // 3. What the scan could not settle: leftover keys, digest bisection.
  const expected = rows === undefined ? undefined : new SortedRows(rows);
  for (const comparer of comparers) await step(comparer, () => comparer.finish(expected));
  const reports: SinkReport[] = [];
  for (const [i, comparer] of comparers.entries()) {
    const sink = sinks[i] as ReconcileSink;
    let report = sinkReport(ctx, comparer, interrupted.get(sink.name) ?? []);
    const sinkPolicy = sink.freezeOn ?? policy;
    const reason = sinkPolicy === undefined ? undefined : crossed(sinkPolicy, report);
    if (reason !== undefined) {
      // In the ledger, so that every guard of the sink, in every process, stops writing;
      // through the sink's guard when it is at hand, so that it knows at once.
      const input = {
        reason: `reconciliation found ${reason}`,
        actor,
        origin: POLICY_FREEZE_ORIGIN,
      };
      if (sink.guard !== undefined && sink.guard.ledger === ledger) {
        await sink.guard.freeze(input.reason, { actor, origin: POLICY_FREEZE_ORIGIN });
      } else await ledger.freezeSink(sink.name, input);
      // The reason the sink is frozen: its oldest freeze (a person's may have come first).
      const [oldest] = await ledger.getFreezes(sink.name);
      report = { ...report, frozen: oldest?.reason ?? input.reason };
    }
    reports.push(report);
  }
  return {
    generatedAt: new Date(nowMs).toISOString(),
    consistent: reports.every((r) => r.consistent),
    range: { from, to: ctx.to, entries },
    sinks: reports,
    durationMs: performance.now() - started,
  };
}
