/**
 * The ledger conformance suite: one shared set of cases that every `Ledger` adapter runs,
 * sinkproof's own included. Public API (`sinkproof/testing`), so that third-party
 * adapters prove themselves the same way.
 *
 * It takes the test runner's `describe` and `it` (vitest, jest, node:test, mocha) and
 * asserts with `node:assert`, so it adds no dependency. Capabilities choose the cases:
 * restart cases run when a `reopen` is given, claim persistence follows
 * `capabilities.claims`, expiry uses the injected clock or, for server clocks, real time.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Envelope } from "../envelope/schema.js";
import { createSealer } from "../envelope/seal.js";
import {
  EnvelopeValidationError,
  IdempotencyConflictError,
  IntegrityError,
  InvalidArgumentError,
  LedgerError,
} from "../errors.js";
import { describe as describeValue, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { verifyAuditChain } from "../ledger/audit.js";
import type { AuditRecord, Ledger, LedgerEntry } from "../ledger/types.js";
import { createManualClock } from "./clock.js";
import { defineAuditPhaseCases } from "./conformance-audit.js";
import { defineClaimCases, defineFreezeCases } from "./conformance-claims.js";
import {
  codeIs,
  collect,
  type Define,
  event,
  fill,
  receiptFor,
  rejectsWith,
  sleep,
  type Tools,
} from "./conformance-support.js";

export { createManualClock, type ManualClock } from "./clock.js";

/** The runner functions the suite needs: `describe` and `it` of vitest, jest, mocha or node:test. */
export interface ConformanceRunner {
  /** The runner's `describe`: groups the cases under the suite's name. */
  describe(name: string, body: () => void): void;
  /** The runner's `it` (or `test`): defines one case. */
  it(name: string, body: () => Promise<void>): void;
}

/** Context the suite gives to `create` and `reopen`. */
export interface ConformanceContext {
  /** The clock to give the ledger (ms since the epoch); the suite moves it to expire claims. */
  readonly clock: () => number;
}

/** Options of {@link ledgerConformance}. */
export interface LedgerConformanceOptions<L extends Ledger = Ledger> extends ConformanceRunner {
  /** Shown in the suite's name. */
  readonly name: string;
  /** A fresh, empty ledger that uses `context.clock` (unless its capabilities say `clock: "server"`). */
  create(context: ConformanceContext): Promise<L>;
  /**
   * Closes `ledger` and opens the same storage again. Give it for durable ledgers: the
   * restart cases run only then.
   */
  reopen?: ((ledger: L, context: ConformanceContext) => Promise<L>) | undefined;
  /**
   * Cases to skip, by name, each with the reason; the reason is printed when the suite is
   * defined, so a skip is never silent.
   */
  readonly skip?: Readonly<Record<string, string>> | undefined;
}

const CONFORMANCE_KEYS = optionKeys<LedgerConformanceOptions>()(
  "name",
  "describe",
  "it",
  "create",
  "reopen",
  "skip",
);

function readSkips(given: unknown, titles: readonly string[]): Readonly<Record<string, string>> {
  if (typeof given !== "object" || given === null)
    invalidArgument(
      "options.skip",
      `must be an object of case names to reasons, got ${describeValue(given)}`,
    );
  const skip = readOptions<Record<string, string>>(given, "options.skip", titles, {
    what: "a case of the suite",
  });
  for (const [title, reason] of Object.entries(skip)) {
    if (typeof reason !== "string" || reason.length === 0)
      invalidArgument(`options.skip.${title}`, "must be the reason, a non-empty string");
  }
  return skip as Readonly<Record<string, string>>;
}

/**
 * Defines the conformance suite for a ledger adapter with the runner's `describe`/`it`.
 *
 * @example
 * ```ts
 * // test/my-ledger.test.ts (vitest)
 * import { describe, it } from "vitest";
 * import { ledgerConformance } from "sinkproof/testing";
 * import { MyLedger } from "../src/my-ledger.js";
 *
 * ledgerConformance({
 *   name: "MyLedger",
 *   describe,
 *   it,
 *   create: async ({ clock }) => MyLedger.open({ path: tmp(), clock }),
 *   reopen: async (ledger, { clock }) => { await ledger.close(); return MyLedger.open({ path: ledger.path, clock }); },
 * });
 * ```
 */
export function ledgerConformance<L extends Ledger>(options: LedgerConformanceOptions<L>): void {
  const read = readOptions<LedgerConformanceOptions<L>>(options, "options", CONFORMANCE_KEYS, {
    required: true,
  });
  const { name, describe, it, create, reopen } = read as LedgerConformanceOptions<L>;
  if (typeof name !== "string" || name.length === 0)
    invalidArgument("options.name", "must be a non-empty string");
  for (const fn of ["describe", "it", "create"] as const) {
    if (typeof read[fn] !== "function")
      invalidArgument(`options.${fn}`, `must be a function, got ${describeValue(read[fn])}`);
  }
  if (reopen !== undefined && typeof reopen !== "function")
    invalidArgument("options.reopen", `must be a function, got ${describeValue(reopen)}`);

  const collect = (durable: boolean) => {
    const out: Array<[string, (ledger: L, t: Tools<L>) => Promise<void>]> = [];
    const test = (title: string, body: (ledger: L, t: Tools<L>) => Promise<void>) =>
      out.push([title, body]);
    defineCases(test, durable);
    defineClaimCases(test, durable);
    defineFreezeCases(test, durable);
    return out;
  };
  const all = collect(true);
  const withoutRestarts = new Set(collect(false).map(([title]) => title));
  const cases = reopen === undefined ? all.filter(([title]) => withoutRestarts.has(title)) : all;
  // Restart cases need `reopen`: without it they are not run, and the suite says which.
  if (reopen === undefined) {
    const restarts = all.map(([title]) => title).filter((title) => !withoutRestarts.has(title));
    console.log(
      `[sinkproof conformance] ${name}: not run, no options.reopen given (a ledger that keeps nothing across a restart needs none): ${restarts.length} restart cases: ${restarts.join("; ")}`,
    );
  }

  // A skip that names no case would skip nothing in silence: refuse it, naming the case meant.
  const titles = all.map(([title]) => title);
  const skip = read.skip === undefined ? {} : readSkips(read.skip, titles);

  describe(`ledger conformance: ${name}`, () => {
    for (const [title, body] of cases) {
      const reason = skip[title];
      if (reason !== undefined) {
        console.log(`[sinkproof conformance] ${name}: skipped "${title}": ${reason}`);
        continue;
      }
      it(title, async () => {
        const clock = createManualClock();
        const context: ConformanceContext = { clock: clock.now };
        let ledger = await create(context);
        const tools: Tools<L> = {
          clock,
          seal: createSealer({ clock: clock.now }),
          reopen: async () => {
            if (reopen === undefined) throw new Error("no reopen");
            ledger = await reopen(ledger, context);
            return ledger;
          },
          expire: async (ms: number) => {
            if (ledger.capabilities.clock === "server") await sleep(ms + 50);
            else clock.advance(ms + 1);
          },
        };
        try {
          await body(ledger, tools);
        } finally {
          await ledger.close().catch(() => undefined);
        }
      });
    }
  });
}

function defineCases<L extends Ledger>(test: Define<L>, durable: boolean): void {
  const T = (t: Tools<L>) => t as unknown as Tools<Ledger>;

  // ---- append ----------------------------------------------------------------------
  test("append assigns consecutive positions from 1, in order", async (ledger, t) => {
    const first = await ledger.append([event(T(t), 0), event(T(t), 1)]);
    const second = await ledger.append([event(T(t), 2)]);
    assert.deepEqual(
      [...first.results, ...second.results].map((r) => [r.entry.position, r.status]),
      [
        [1, "appended"],
        [2, "appended"],
        [3, "appended"],
      ],
    );
    assert.equal(first.appended, 2);
    assert.equal(second.existing, 0);
    assert.equal(await ledger.head(), 3);
  });

  test("append stores the envelope unchanged and frozen, with an appendedAt time", async (ledger, t) => {
    const envelope = event(T(t), 0, {
      trace: { correlationId: "c-1" },
      parents: ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
    });
    await ledger.append([envelope]);
    const entry = await ledger.get(envelope.key);
    assert.ok(entry !== undefined);
    assert.deepEqual(entry.envelope, envelope);
    assert.ok(Object.isFrozen(entry.envelope) && Object.isFrozen(entry.envelope.payload));
    assert.match(entry.appendedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("append is idempotent by key: the same key and checksum return the existing entry", async (ledger, t) => {
    const envelope = event(T(t), 0);
    await ledger.append([envelope]);
    // The same effect sealed again: a new id, the same key and payload.
    const again = event(T(t), 0);
    assert.notEqual(again.id, envelope.id);
    const result = await ledger.append([again]);
    assert.equal(result.results[0]?.status, "existing");
    assert.equal(result.results[0]?.entry.position, 1);
    assert.equal(result.results[0]?.entry.envelope.id, envelope.id);
    assert.equal(await ledger.head(), 1);
  });

  test("append refuses a key with another checksum, carrying the existing entry", async (ledger, t) => {
    await ledger.append([event(T(t), 0)]);
    const other = event(T(t), 0, { payload: { orderId: "o-0", total: 999 } });
    const error = await rejectsWith(
      ledger.append([other]),
      (e) => e instanceof IdempotencyConflictError && e.code === "idempotency_conflict",
      "conflicting key",
    );
    const conflict = error as IdempotencyConflictError;
    assert.equal(conflict.existing?.position, 1);
    assert.equal(conflict.incoming, other.checksum);
    assert.equal(await ledger.head(), 1);
  });

  test("append refuses an id reused under another key", async (ledger, t) => {
    const envelope = event(T(t), 0);
    await ledger.append([envelope]);
    const reused = Object.freeze({ ...event(T(t), 1), id: envelope.id });
    await rejectsWith(ledger.append([reused]), codeIs("id_conflict"), "reused id");
  });

  test("append is atomic: a batch with one conflicting envelope writes none of it", async (ledger, t) => {
    await ledger.append([event(T(t), 0)]);
    const batch = [event(T(t), 1), event(T(t), 2), event(T(t), 0, { payload: { changed: true } })];
    await rejectsWith(
      ledger.append(batch),
      codeIs("idempotency_conflict"),
      "batch with a conflict",
    );
    assert.equal(await ledger.head(), 1);
    assert.equal(await ledger.get(batch[0]?.key as string), undefined);
  });

  test("append folds repeats inside one batch and refuses a key repeated with another checksum", async (ledger, t) => {
    const a = event(T(t), 0);
    const result = await ledger.append([a, event(T(t), 1), a]);
    assert.deepEqual(
      result.results.map((r) => [r.entry.position, r.status]),
      [
        [1, "appended"],
        [2, "appended"],
        [1, "existing"],
      ],
    );
    assert.equal(result.appended, 2);
    assert.equal(result.existing, 1);
    const clash = [event(T(t), 5), event(T(t), 5, { payload: { other: 1 } })];
    await rejectsWith(ledger.append(clash), codeIs("idempotency_conflict"), "clash within a batch");
    assert.equal(await ledger.head(), 2);
  });

  test("append verifies every envelope and writes nothing when one is bad", async (ledger, t) => {
    const good = event(T(t), 0);
    const altered = { ...event(T(t), 1), payload: { orderId: "o-1", total: 0 } };
    await rejectsWith(
      ledger.append([good, altered as Envelope]),
      (e) => e instanceof IntegrityError && e.code === "checksum_mismatch",
      "altered payload",
    );
    const malformed = { ...event(T(t), 2), seq: -1 };
    await rejectsWith(
      ledger.append([good, malformed as Envelope]),
      (e) => e instanceof EnvelopeValidationError,
      "bad field",
    );
    const hostile = { ...event(T(t), 3), payload: { n: Number.NaN } };
    await rejectsWith(
      ledger.append([hostile as Envelope]),
      (e) => e instanceof IntegrityError,
      "NaN payload",
    );
    await rejectsWith(
      ledger.append("nope" as never),
      (e) => e instanceof InvalidArgumentError,
      "not an array",
    );
    assert.equal(await ledger.head(), 0);
  });

  test("append of an empty batch does nothing", async (ledger) => {
    const result = await ledger.append([]);
    assert.deepEqual([result.appended, result.existing, result.results.length], [0, 0, 0]);
    assert.equal(await ledger.head(), 0);
  });

  test("concurrent appends get distinct, gap-free positions", async (ledger, t) => {
    const calls = Array.from({ length: 20 }, (_, i) =>
      ledger.append([event(T(t), i * 2), event(T(t), i * 2 + 1)]),
    );
    const results = await Promise.all(calls);
    const positions = results
      .flatMap((r) => r.results.map((x) => x.entry.position))
      .sort((a, b) => a - b);
    assert.deepEqual(
      positions,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    // Within one call, positions follow the order of the envelopes.
    for (const r of results)
      assert.equal((r.results[1]?.entry.position ?? 0) - (r.results[0]?.entry.position ?? 0), 1);
  });

  test("concurrent appends of one key: one position, every caller gets it", async (ledger, t) => {
    const envelope = event(T(t), 0);
    const results = await Promise.all(Array.from({ length: 10 }, () => ledger.append([envelope])));
    assert.deepEqual(new Set(results.map((r) => r.results[0]?.entry.position)), new Set([1]));
    assert.equal(results.filter((r) => r.appended === 1).length, 1);
    assert.equal(await ledger.head(), 1);
  });

  // ---- reads ------------------------------------------------------------------------
  test("get and getById find entries; unknown ones are undefined", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 3);
    assert.ok(entry !== undefined);
    assert.equal((await ledger.get(entry.envelope.key))?.position, 1);
    assert.equal((await ledger.getById(entry.envelope.id))?.position, 1);
    assert.equal(await ledger.get("no-such-key"), undefined);
    assert.equal(await ledger.getById("01ARYZ6S41TSV4RRFFQ69G5FAV"), undefined);
    await rejectsWith(
      ledger.getById("not-an-id"),
      (e) => e instanceof InvalidArgumentError,
      "bad id",
    );
  });

  test("scan yields entries in position order with from, to, producer, stream and limit", async (ledger, t) => {
    await ledger.append([
      event(T(t), 0),
      event(T(t), 0, { stream: "refunds" }),
      event(T(t), 0, { producer: "billing" }),
      event(T(t), 1),
      event(T(t), 2),
    ]);
    const positions = async (query?: Parameters<Ledger["scan"]>[0]) =>
      (await collect(ledger.scan(query))).map((e) => e.position);
    assert.deepEqual(await positions(), [1, 2, 3, 4, 5]);
    assert.deepEqual(await positions({ from: 2, to: 4 }), [2, 3, 4]);
    assert.deepEqual(await positions({ stream: "orders" }), [1, 3, 4, 5]);
    assert.deepEqual(await positions({ producer: "orders-svc", stream: "orders" }), [1, 4, 5]);
    assert.deepEqual(await positions({ producer: "billing" }), [3]);
    assert.deepEqual(await positions({ stream: "orders", limit: 2 }), [1, 3]);
    assert.deepEqual(await positions({ from: 6 }), []);
    assert.deepEqual(await positions({ from: 3, to: 2 }), []);
    assert.deepEqual(await positions({ limit: 0 }), []);
    await rejectsWith(
      () => ledger.scan({ from: 0 }),
      (e) => e instanceof InvalidArgumentError,
      "from 0",
    );
  });

  test("head is 0 when empty", async (ledger) => {
    assert.equal(await ledger.head(), 0);
  });

  // ---- sequences --------------------------------------------------------------------
  test("reserveSequence hands out consecutive, non-overlapping ranges per producer", async (ledger) => {
    const a = await ledger.reserveSequence("orders-svc", 10);
    const b = await ledger.reserveSequence("orders-svc", 5);
    const c = await ledger.reserveSequence("billing", 1);
    assert.deepEqual([a.first, a.count, b.first, b.count, c.first], [0, 10, 10, 5, 0]);
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => ledger.reserveSequence("p", 3)),
    );
    const firsts = concurrent.map((r) => r.first).sort((x, y) => x - y);
    assert.deepEqual(
      firsts,
      Array.from({ length: 10 }, (_, i) => i * 3),
    );
    await rejectsWith(
      ledger.reserveSequence("p", 0),
      (e) => e instanceof InvalidArgumentError,
      "count 0",
    );
    await rejectsWith(
      ledger.reserveSequence("a/b", 1),
      (e) => e instanceof InvalidArgumentError,
      "bad producer",
    );
  });

  // ---- receipts ---------------------------------------------------------------------
  test("putReceipt stores receipts; getReceipts returns them in put order", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    const failed = receiptFor(entry, {
      status: "failed",
      error: { code: "timeout", message: "sink timed out" },
    });
    const written = receiptFor(entry, { attempt: 2, sinkOffset: "row:17" });
    await ledger.putReceipt(failed);
    await ledger.putReceipt(written);
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), [failed, written]);
    assert.deepEqual(await ledger.getReceipts("search", entry.envelope.key), []);
  });

  test("putReceipt refuses a receipt for an entry that does not exist, and a malformed one", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { position: 2 })),
      codeIs("not_found"),
      "wrong position",
    );
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { key: "other" })),
      codeIs("not_found"),
      "unknown key",
    );
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { status: "maybe" as never })),
      (e) => e instanceof InvalidArgumentError && e.path === "receipt.status",
      "bad status",
    );
    await rejectsWith(
      ledger.putReceipt({ ...receiptFor(entry), extra: 1 } as never),
      (e) => e instanceof InvalidArgumentError,
      "unknown field",
    );
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), []);
  });

  test("scanReceipts yields a sink's receipts in position order within a range", async (ledger, t) => {
    const entries = await fill(ledger, T(t), 4);
    for (const entry of [...entries].reverse()) await ledger.putReceipt(receiptFor(entry));
    await ledger.putReceipt(
      receiptFor(entries[1] as LedgerEntry, { attempt: 2, status: "duplicate" }),
    );
    await ledger.putReceipt(receiptFor(entries[0] as LedgerEntry, { sink: "search" }));
    const seen = (await collect(ledger.scanReceipts("warehouse"))).map((r) => [
      r.position,
      r.attempt,
    ]);
    assert.deepEqual(seen, [
      [1, 1],
      [2, 1],
      [2, 2],
      [3, 1],
      [4, 1],
    ]);
    const ranged = (await collect(ledger.scanReceipts("warehouse", { from: 2, to: 3 }))).map(
      (r) => r.position,
    );
    assert.deepEqual(ranged, [2, 2, 3]);
    assert.deepEqual((await collect(ledger.scanReceipts("search"))).length, 1);
    assert.deepEqual(await collect(ledger.scanReceipts("nowhere")), []);
  });

  // ---- watermarks -------------------------------------------------------------------
  test("watermarks start at 0, advance, never move backwards, and stop at the head", async (ledger, t) => {
    await fill(ledger, T(t), 5);
    assert.equal(await ledger.getWatermark("warehouse"), 0);
    assert.equal(await ledger.advanceWatermark("warehouse", 3), 3);
    assert.equal(await ledger.advanceWatermark("warehouse", 2), 3);
    assert.equal(await ledger.getWatermark("warehouse"), 3);
    assert.equal(await ledger.advanceWatermark("warehouse", 5), 5);
    assert.equal(await ledger.getWatermark("search"), 0);
    await rejectsWith(
      ledger.advanceWatermark("warehouse", 6),
      (e) => e instanceof InvalidArgumentError,
      "past head",
    );
    await rejectsWith(
      ledger.advanceWatermark("warehouse", -1),
      (e) => e instanceof InvalidArgumentError,
      "negative",
    );
    assert.equal(await ledger.getWatermark("warehouse"), 5);
  });

  // ---- claims -----------------------------------------------------------------------
  test("claim acquires; others see it held until it expires; then it can be taken over", async (ledger, t) => {
    const first = await ledger.claim("warehouse", "k1", { owner: "worker-a", ttlMs: 1000 });
    assert.equal(first.status, "acquired");
    const second = await ledger.claim("warehouse", "k1", { owner: "worker-b", ttlMs: 1000 });
    assert.equal(second.status, "held");
    if (second.status === "held" && first.status === "acquired") {
      assert.equal(second.owner, "worker-a");
      assert.equal(second.expiresAt, first.claim.expiresAt);
    }
    const same = await ledger.claim("warehouse", "k1", { owner: "worker-a", ttlMs: 1000 });
    assert.equal(same.status, "held", "a claim is exclusive even for its own owner");
    assert.equal(
      (await ledger.claim("search", "k1", { owner: "worker-b", ttlMs: 1000 })).status,
      "acquired",
    );
    await t.expire(1000);
    const takeover = await ledger.claim("warehouse", "k1", { owner: "worker-b", ttlMs: 1000 });
    assert.equal(takeover.status, "acquired");
    if (first.status === "acquired") {
      await rejectsWith(
        ledger.renewClaim(first.claim, 1000),
        codeIs("claim_lost"),
        "renew after takeover",
      );
      assert.equal(await ledger.releaseClaim(first.claim), false);
    }
  });

  test("renewClaim extends a claim; releaseClaim frees the key", async (ledger, t) => {
    const result = await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 1000 });
    assert.ok(result.status === "acquired");
    const renewed = await ledger.renewClaim(result.claim, 5000);
    assert.ok(renewed.expiresAt > result.claim.expiresAt);
    await t.expire(1000);
    assert.equal(
      (await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 })).status,
      "held",
    );
    assert.equal(await ledger.releaseClaim(renewed), true);
    assert.equal(await ledger.releaseClaim(renewed), false);
    assert.equal(
      (await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 })).status,
      "acquired",
    );
  });

  test("claim is done once the key has a final receipt; failed receipts do not count", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    const key = entry.envelope.key;
    await ledger.putReceipt(
      receiptFor(entry, { status: "failed", error: { code: "e", message: "x" } }),
    );
    const claimed = await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 });
    assert.equal(claimed.status, "acquired");
    const written = receiptFor(entry, { attempt: 2 });
    await ledger.putReceipt(written);
    if (claimed.status === "acquired") await ledger.releaseClaim(claimed.claim);
    const done = await ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000 });
    assert.equal(done.status, "done");
    if (done.status === "done") assert.deepEqual(done.receipt, written);
    assert.equal(
      (await ledger.claim("search", key, { owner: "b", ttlMs: 1000 })).status,
      "acquired",
    );
  });

  test("a replay claim acquires a done key, and is still exclusive", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    await ledger.putReceipt(receiptFor(entry));
    const key = entry.envelope.key;
    assert.equal(
      (await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 })).status,
      "done",
    );
    const replay = await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000, replay: true });
    assert.equal(replay.status, "acquired");
    const other = await ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000, replay: true });
    assert.equal(other.status, "held");
  });

  test("receipts keep their validation issues and signature", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    const receipt = receiptFor(entry, {
      status: "rejected",
      error: { code: "rejected", message: "the sink refused it" },
      issues: [{ path: "$.payload.total", code: "too_small", message: "must be positive" }],
      signature: { keyId: "k1", algorithm: "HMAC-SHA256", value: "a".repeat(64) },
    });
    await ledger.putReceipt(receipt);
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), [receipt]);
  });

  test("concurrent claims of one key: exactly one acquires", async (ledger) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ledger.claim("warehouse", "hot", { owner: `w${i}`, ttlMs: 10_000 }),
      ),
    );
    assert.equal(results.filter((r) => r.status === "acquired").length, 1);
    assert.equal(results.filter((r) => r.status === "held").length, 49);
  });

  test("claim arguments are checked", async (ledger) => {
    await rejectsWith(
      ledger.claim("warehouse", "k", { owner: "a", ttlMs: 0 }),
      (e) => e instanceof InvalidArgumentError && e.path === "options.ttlMs",
      "ttl 0",
    );
    await rejectsWith(
      ledger.claim("", "k", { owner: "a", ttlMs: 10 }),
      (e) => e instanceof InvalidArgumentError,
      "empty sink",
    );
    await rejectsWith(
      ledger.claim("s", "k", null as never),
      (e) => e instanceof InvalidArgumentError,
      "no options",
    );
  });

  // ---- audit ------------------------------------------------------------------------
  test("appendAudit chains records; verifyAudit accepts the chain and returns its head", async (ledger) => {
    const empty = await ledger.verifyAudit();
    assert.ok(empty.ok && empty.count === 0 && empty.head === undefined);
    const a = await ledger.appendAudit({
      actor: "ops",
      action: "freeze",
      reason: "mismatch found",
      subject: { sink: "warehouse" },
    });
    const b = await ledger.appendAudit({
      actor: "repair-job",
      action: "replay",
      reason: "missing at sink",
      subject: { sink: "warehouse", key: "k", position: 1 },
      before: null,
      after: "xxh64:0123456789abcdef",
      details: { attempt: 1, note: "é" },
    });
    assert.equal(a.index, 1);
    assert.equal(b.index, 2);
    assert.equal(a.prevHash, "0".repeat(64));
    assert.equal(b.prevHash, a.hash);
    const records = await collect(ledger.scanAudit());
    assert.deepEqual(records, [a, b]);
    const result = await ledger.verifyAudit();
    assert.ok(result.ok);
    if (result.ok) assert.deepEqual(result.head, { index: 2, hash: b.hash });
    assert.ok((await ledger.verifyAudit({ head: { index: 2, hash: b.hash } })).ok);
  });

  test("the audit chain as stored detects edited, removed, reordered, inserted records and truncation", async (ledger) => {
    for (let i = 0; i < 4; i++)
      await ledger.appendAudit({ actor: "ops", action: "note", reason: `step ${i}` });
    const records = await collect(ledger.scanAudit());
    const head = { index: 4, hash: (records[3] as AuditRecord).hash };
    const codes = async (chain: AuditRecord[], known?: typeof head) => {
      const result = await verifyAuditChain(chain, known);
      return result.ok ? [] : result.problems.map((p) => p.code);
    };
    assert.deepEqual(await codes(records, head), []);
    const edited = records.map((r, i) => (i === 1 ? { ...r, reason: "rewritten" } : r));
    assert.ok((await codes(edited)).includes("edited"));
    assert.ok(
      (await codes([records[0], records[2], records[3]] as AuditRecord[])).includes("removed"),
    );
    assert.ok(
      (await codes([records[0], records[2], records[1], records[3]] as AuditRecord[])).includes(
        "reordered",
      ),
    );
    assert.ok(
      (
        await codes([records[0], records[1], records[1], records[2], records[3]] as AuditRecord[])
      ).includes("inserted"),
    );
    assert.deepEqual(await codes(records.slice(0, 3), head), ["truncated"]);
    // Against the ledger itself: a head it never reached reads as truncation.
    const check = await ledger.verifyAudit({ head: { index: 9, hash: head.hash } });
    assert.ok(!check.ok && check.problems.some((p) => p.code === "truncated"));
    const wrong = await ledger.verifyAudit({ head: { index: 4, hash: "f".repeat(64) } });
    assert.ok(!wrong.ok && wrong.problems.some((p) => p.code === "head_mismatch"));
  });

  test("appendAudit checks its input", async (ledger) => {
    await rejectsWith(
      ledger.appendAudit({ actor: "", action: "x", reason: "y" }),
      (e) => e instanceof InvalidArgumentError && e.path === "input.actor",
      "empty actor",
    );
    await rejectsWith(
      ledger.appendAudit({ actor: "a", action: "x", reason: "y", details: { n: Number.NaN } }),
      (e) => e instanceof InvalidArgumentError,
      "NaN in details",
    );
    assert.equal((await ledger.verifyAudit()).count, 0);
  });

  defineAuditPhaseCases(test, durable);

  // ---- closed ---------------------------------------------------------------------
  test("a closed ledger refuses every call with ledger_closed; closing twice is fine", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    assert.ok(entry !== undefined);
    await ledger.close();
    await ledger.close();
    const closed = (e: unknown) => e instanceof LedgerError && e.code === "ledger_closed";
    await rejectsWith(ledger.append([event(T(t), 9)]), closed, "append");
    await rejectsWith(ledger.get(entry.envelope.key), closed, "get");
    await rejectsWith(ledger.getById(entry.envelope.id), closed, "getById");
    await rejectsWith(() => ledger.scan(), closed, "scan");
    await rejectsWith(ledger.head(), closed, "head");
    await rejectsWith(ledger.reserveSequence("p", 1), closed, "reserveSequence");
    await rejectsWith(ledger.putReceipt(receiptFor(entry)), closed, "putReceipt");
    await rejectsWith(ledger.getReceipts("s", "k"), closed, "getReceipts");
    await rejectsWith(() => ledger.scanReceipts("s"), closed, "scanReceipts");
    await rejectsWith(ledger.getWatermark("s"), closed, "getWatermark");
    await rejectsWith(ledger.advanceWatermark("s", 1), closed, "advanceWatermark");
    await rejectsWith(ledger.claim("s", "k", { owner: "a", ttlMs: 10 }), closed, "claim");
    await rejectsWith(
      ledger.appendAudit({ actor: "a", action: "b", reason: "c" }),
      closed,
      "appendAudit",
    );
    await rejectsWith(() => ledger.scanAudit(), closed, "scanAudit");
    await rejectsWith(ledger.verifyAudit(), closed, "verifyAudit");
    await rejectsWith(ledger.freezeSink("s", { reason: "r", actor: "a" }), closed, "freezeSink");
    await rejectsWith(
      ledger.unfreezeSink("s", { reason: "r", actor: "a" }),
      closed,
      "unfreezeSink",
    );
    await rejectsWith(ledger.getFreezes("s"), closed, "getFreezes");
    await rejectsWith(ledger.listFreezes(), closed, "listFreezes");
  });

  // ---- restart --------------------------------------------------------------------
  if (!durable) return;

  test("entries, receipts, watermarks, sequences and the audit log survive a reopen", async (_ledger, t) => {
    let ledger = _ledger;
    const entries = await fill(ledger, T(t), 3);
    await ledger.putReceipt(receiptFor(entries[0] as LedgerEntry));
    await ledger.advanceWatermark("warehouse", 1);
    await ledger.reserveSequence("orders-svc", 7);
    const record = await ledger.appendAudit({
      actor: "ops",
      action: "note",
      reason: "before restart",
    });
    ledger = await t.reopen();
    assert.equal(await ledger.head(), 3);
    for (const entry of entries) {
      const found = await ledger.get(entry.envelope.key);
      assert.deepEqual(found, entry);
      assert.ok(
        found !== undefined &&
          Object.isFrozen(found.envelope) &&
          Object.isFrozen(found.envelope.payload),
      );
    }
    assert.deepEqual(
      (await collect(ledger.scan())).map((e) => e.position),
      [1, 2, 3],
    );
    assert.equal(
      (await ledger.getReceipts("warehouse", (entries[0] as LedgerEntry).envelope.key)).length,
      1,
    );
    assert.equal(await ledger.getWatermark("warehouse"), 1);
    assert.equal((await ledger.reserveSequence("orders-svc", 1)).first, 7);
    assert.deepEqual(await collect(ledger.scanAudit()), [record]);
    assert.ok((await ledger.verifyAudit({ head: { index: 1, hash: record.hash } })).ok);
    // Appending continues the positions, and idempotency holds across the restart.
    const more = await ledger.append([event(T(t), 0), event(T(t), 3)]);
    assert.deepEqual(
      more.results.map((r) => [r.entry.position, r.status]),
      [
        [1, "existing"],
        [4, "appended"],
      ],
    );
    await rejectsWith(
      ledger.append([event(T(t), 1, { payload: { x: 1 } })]),
      codeIs("idempotency_conflict"),
      "conflict after restart",
    );
  });

  test("claims survive a reopen exactly when capabilities.claims is durable", async (_ledger, t) => {
    let ledger = _ledger;
    const claimed = await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 60_000 });
    assert.equal(claimed.status, "acquired");
    ledger = await t.reopen();
    const after = await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 60_000 });
    assert.equal(after.status, ledger.capabilities.claims === "durable" ? "held" : "acquired");
  });
}
