/**
 * The sink conformance suite: the cases every ready-made sink (`sinkproof/sinks/*`, a
 * {@link ReadySink}) passes, and a third-party one can run the same way, as
 * `ledgerConformance` is for ledgers. Each case gets a fresh, empty sink and a
 * MemoryLedger on a manual clock: upserts by key, fencing tokens, concurrent deliveries
 * through a guard, batches, ranged read-back, digests against `digestIndex`, rewrite and
 * remove as repair uses them (hand damage found and repaired), typed errors for bad
 * input, and, given `reopen`, rows kept across a reopen. It asserts with `node:assert`
 * and takes the runner's `describe` and `it`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { guardSink } from "../delivery/guard.js";
import type { SinkWriteContext } from "../delivery/guard-types.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import { createSealer } from "../envelope/seal.js";
import { isSinkproofError } from "../errors.js";
import { describe as describeValue, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { MemoryLedger } from "../ledger/memory.js";
import { digestIndex } from "../reconcile/digest.js";
import { reconcile } from "../reconcile/reconcile.js";
import { repair } from "../reconcile/repair.js";
import type { Observation } from "../reconcile/types.js";
import type { ReadySink } from "../sinks/types.js";
import { createManualClock, type ManualClock } from "./clock.js";
import type { ConformanceRunner } from "./conformance.js";

/** Options of {@link sinkConformance}. */
export interface SinkConformanceOptions<S extends ReadySink = ReadySink> extends ConformanceRunner {
  /** Shown in the suite's name. */
  readonly name: string;
  /** A fresh, empty sink named `name` (each case gets its own). */
  create(name: string): Promise<S>;
  /** Closes `sink` and opens the same storage again: the restart case runs only then. */
  reopen?: ((sink: S) => Promise<S>) | undefined;
  /** Cases to skip, by name, each with the reason (printed: a skip is never silent). */
  readonly skip?: Readonly<Record<string, string>> | undefined;
}

const OPTION_KEYS = optionKeys<SinkConformanceOptions>()(
  "name",
  "describe",
  "it",
  "create",
  "reopen",
  "skip",
);

/** What each case gets. */
interface Tools<S extends ReadySink> {
  readonly clock: ManualClock;
  readonly ledger: MemoryLedger;
  /** `n` new envelopes, appended to the ledger; returned with their positions. */
  emit(n: number): Promise<{ envelope: Envelope; position: number }[]>;
  /** The same key as `envelope` with another payload (another checksum). */
  variant(envelope: Envelope, payload: JsonValue): Envelope;
  /** Every row the sink reads back, by key (a key read twice fails the case). */
  rows(range?: { from: number; to: number }): Promise<Map<string, Observation>>;
  /** A write context for `position` under `token`. */
  context(position: number, token: number): SinkWriteContext;
  reopen(): Promise<S>;
}

type Case<S extends ReadySink> = [string, (sink: S, t: Tools<S>) => Promise<void>, boolean];

const rejectsTyped = async (
  promise: Promise<unknown> | (() => unknown),
  code: string | undefined,
  what: string,
) => {
  let caught: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    caught = error;
  }
  assert.ok(isSinkproofError(caught), `${what}: a typed error, got ${String(caught)}`);
  if (code !== undefined) assert.equal((caught as { code: string }).code, code, what);
};

function cases<S extends ReadySink>(): Case<S>[] {
  const list: Case<S>[] = [];
  const test = (title: string, body: Case<S>[1], restart = false) =>
    list.push([title, body, restart]);

  test("writes are upserts by key: each row read back once, as written", async (sink, t) => {
    const items = await t.emit(5);
    for (const { envelope, position } of items) await sink.write(envelope, t.context(position, 1));
    // The same writes again (a redelivery after a crash): nothing changes.
    for (const { envelope, position } of items) await sink.write(envelope, t.context(position, 1));
    const rows = await t.rows();
    assert.equal(rows.size, 5);
    for (const { envelope } of items) {
      assert.equal(rows.get(envelope.key)?.checksum, envelope.checksum, envelope.key);
    }
  });

  test("fencing: a write under a token not above the stored one changes nothing", async (sink, t) => {
    const [{ envelope, position }] = (await t.emit(1)) as [
      { envelope: Envelope; position: number },
    ];
    const late = t.variant(envelope, { late: true });
    const newer = t.variant(envelope, { newer: true });
    await sink.write(envelope, t.context(position, 5));
    await sink.write(late, t.context(position, 4));
    await sink.write(late, t.context(position, 5));
    assert.equal((await t.rows()).get(envelope.key)?.checksum, envelope.checksum, "fenced");
    await sink.write(newer, t.context(position, 6));
    assert.equal((await t.rows()).get(envelope.key)?.checksum, newer.checksum, "a newer token");
    await sink.writeBatch([late], {
      sink: sink.name,
      attempt: 1,
      replay: false,
      signal: new AbortController().signal,
      items: [t.context(position, 3)],
    });
    assert.equal((await t.rows()).get(envelope.key)?.checksum, newer.checksum, "fenced in a batch");
  });

  test("concurrent deliveries through a guard write each key once", async (sink, t) => {
    const items = await t.emit(30);
    const guard = guardSink({
      name: sink.name,
      ledger: t.ledger,
      write: sink.write,
      writeBatch: sink.writeBatch,
    });
    const first = (items[0] as { envelope: Envelope }).envelope;
    await Promise.all([
      ...Array.from({ length: 20 }, () => guard.deliver(first)),
      ...items.map(({ envelope }) => guard.deliver(envelope)),
      guard.deliverMany(items.slice(10).map((i) => i.envelope)),
    ]);
    const rows = await t.rows();
    assert.equal(rows.size, 30);
    const report = await reconcile({
      ledger: t.ledger,
      sinks: [sink],
      clock: t.clock.now,
    });
    assert.equal(report.consistent, true, JSON.stringify(report.sinks[0]?.counts));
    assert.equal(report.sinks[0]?.counts.matched, 30);
  });

  test("writeBatch stores a batch, each envelope at its position", async (sink, t) => {
    const items = await t.emit(12);
    await sink.writeBatch(
      items.map((i) => i.envelope),
      {
        sink: sink.name,
        attempt: 1,
        replay: false,
        signal: new AbortController().signal,
        items: items.map((i) => t.context(i.position, 1)),
      },
    );
    const rows = await t.rows();
    assert.deepEqual([...rows.keys()].sort(), items.map((i) => i.envelope.key).sort());
  });

  test("observe(range) reads back the rows of those ledger positions", async (sink, t) => {
    const items = await t.emit(10);
    for (const { envelope, position } of items) await sink.write(envelope, t.context(position, 1));
    const rows = await t.rows({ from: 4, to: 7 });
    assert.deepEqual(
      [...rows.keys()].sort(),
      items
        .filter((i) => i.position >= 4 && i.position <= 7)
        .map((i) => i.envelope.key)
        .sort(),
    );
  });

  test("digests are digestIndex's of the rows read back; observeRange gives a hash range's rows", async (sink, t) => {
    const items = await t.emit(40);
    for (const { envelope, position } of items) await sink.write(envelope, t.context(position, 1));
    const rows = [...(await t.rows()).values()].map((o) => ({
      key: o.key,
      checksum: o.checksum as string,
    }));
    const truth = digestIndex(rows);
    for (const split of [
      { from: 0, to: 2 ** 32, buckets: 1 },
      { from: 0, to: 2 ** 32, buckets: 16 },
      { from: 2 ** 31, to: 2 ** 31 + 2 ** 28, buckets: 8 },
    ]) {
      assert.deepEqual(
        await sink.digests.digest(split),
        await truth.digest(split),
        JSON.stringify(split),
      );
    }
    const range = { from: 0, to: 2 ** 31 };
    const seen: string[] = [];
    for await (const o of sink.digests.observeRange(range)) seen.push(o.key);
    const expected: string[] = [];
    for await (const o of truth.observeRange(range)) expected.push(o.key);
    assert.deepEqual(seen.sort(), expected.sort());
  });

  test("hand damage is found by reconcile and repaired through rewrite, remove and the guard", async (sink, t) => {
    const items = await t.emit(6);
    const guard = guardSink({ name: sink.name, ledger: t.ledger, write: sink.write });
    for (const { envelope } of items) await guard.deliver(envelope);
    const a = items[0] as { envelope: Envelope };
    const b = items[1] as { envelope: Envelope };
    await sink.remove(a.envelope.key); // deleted by hand
    await sink.rewrite(t.variant(b.envelope, { altered: true })); // altered by hand
    t.clock.advance(120_000);
    const full = { ...sink, lagToleranceMs: 0, guard };
    const report = await reconcile({ ledger: t.ledger, sinks: [full], clock: t.clock.now });
    assert.equal(report.sinks[0]?.counts["missing-lost"], 1, "the deleted row");
    assert.equal(report.sinks[0]?.counts.mismatched, 1, "the altered row");
    const repaired = await repair(report, {
      ledger: t.ledger,
      sinks: [full],
      actor: "conformance",
      reason: "hand damage",
      clock: t.clock.now,
    });
    assert.equal(repaired.converged, true, JSON.stringify(repaired.sinks));
    const after = await reconcile({ ledger: t.ledger, sinks: [full], clock: t.clock.now });
    assert.equal(after.consistent, true);
    await sink.remove("no-such-key"); // a key not held is fine
  });

  test("bad input gets typed errors, and a closed sink refuses with sink_closed", async (sink, t) => {
    const [{ envelope, position }] = (await t.emit(1)) as [
      { envelope: Envelope; position: number },
    ];
    await rejectsTyped(
      () =>
        sink.write(
          { ...envelope, checksum: "xxh64:0000000000000000" } as Envelope,
          t.context(position, 1),
        ),
      undefined,
      "an envelope whose checksum is not its payload's",
    );
    await rejectsTyped(
      () => sink.write({ key: "k" } as never, t.context(1, 1)),
      undefined,
      "not an envelope",
    );
    await rejectsTyped(
      () => sink.writeBatch("x" as never, undefined as never),
      "invalid_argument",
      "a batch that is not a list",
    );
    await rejectsTyped(() => sink.remove("" as never), "invalid_argument", "an empty key");
    assert.equal((await t.rows()).size, 0, "nothing stored");
    await sink.close();
    await rejectsTyped(() => sink.write(envelope, t.context(position, 1)), "sink_closed", "closed");
  });

  test(
    "rows survive a reopen",
    async (sink, t) => {
      const items = await t.emit(4);
      for (const { envelope, position } of items)
        await sink.write(envelope, t.context(position, 2));
      await t.reopen();
      const rows = await t.rows();
      assert.equal(rows.size, 4);
      const [{ envelope, position }] = items as [{ envelope: Envelope; position: number }];
      const reopened = await t.reopen();
      await reopened.write(t.variant(envelope, { late: true }), t.context(position, 2));
      assert.equal(
        (await t.rows()).get(envelope.key)?.checksum,
        envelope.checksum,
        "fenced after a reopen",
      );
    },
    true,
  );
  return list;
}

/**
 * Defines the sink conformance suite for one sink adapter with the runner's `describe`
 * and `it`.
 *
 * @example
 * ```ts
 * import { describe, it } from "vitest";
 * import { jsonlSink } from "sinkproof/sinks/jsonl";
 * import { sinkConformance } from "sinkproof/testing";
 * let n = 0;
 * sinkConformance({
 *   name: "jsonl",
 *   describe,
 *   it,
 *   create: (name) => jsonlSink({ name, path: `./tmp/sink-${n++}.jsonl` }),
 *   reopen: async (sink) => {
 *     await sink.close();
 *     return jsonlSink({ name: sink.name, path: sink.path });
 *   },
 * });
 * ```
 */
export function sinkConformance<S extends ReadySink>(options: SinkConformanceOptions<S>): void {
  const read = readOptions<SinkConformanceOptions<S>>(options, "options", OPTION_KEYS, {
    required: true,
  });
  const { name, describe, it, create, reopen } = read as SinkConformanceOptions<S>;
  if (typeof name !== "string" || name.length === 0)
    invalidArgument("options.name", "must be a non-empty string");
  for (const fn of ["describe", "it", "create"] as const) {
    if (typeof read[fn] !== "function")
      invalidArgument(`options.${fn}`, `must be a function, got ${describeValue(read[fn])}`);
  }
  if (reopen !== undefined && typeof reopen !== "function")
    invalidArgument("options.reopen", `must be a function, got ${describeValue(reopen)}`);
  const all = cases<S>();
  const titles = new Set(all.map(([title]) => title));
  const skip = read.skip ?? {};
  for (const [title, reason] of Object.entries(skip)) {
    if (!titles.has(title))
      invalidArgument(`options.skip[${JSON.stringify(title)}]`, "names no case of the suite");
    if (typeof reason !== "string" || reason.length === 0)
      invalidArgument(`options.skip[${JSON.stringify(title)}]`, "must give the reason");
  }
  describe(`sink conformance: ${name}`, () => {
    for (const [title, body, restart] of all) {
      const reason =
        skip[title] ?? (restart && reopen === undefined ? "no options.reopen given" : undefined);
      if (reason !== undefined) {
        console.log(`[sinkproof sink conformance] ${name}: skipped "${title}": ${reason}`);
        continue;
      }
      it(title, async () => {
        const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
        const ledger = new MemoryLedger({ clock: clock.now });
        const seal = createSealer({ clock: clock.now });
        let seq = 0;
        let sink = await create("conformance");
        const tools: Tools<S> = {
          clock,
          ledger,
          async emit(n) {
            const envelopes = Array.from({ length: n }, () => {
              const s = seq++;
              return seal({
                producer: "conformance",
                seq: s,
                type: "row",
                schema: { name: "row", version: 1 },
                payload: { s, text: `row ${s}` },
              });
            });
            const { results } = await ledger.append(envelopes);
            return envelopes.map((envelope, i) => ({
              envelope,
              position: (results[i] as { entry: { position: number } }).entry.position,
            }));
          },
          variant(envelope, payload): Envelope {
            return (seal as (draft: unknown) => Envelope)({
              producer: envelope.producer,
              stream: envelope.stream,
              seq: envelope.seq,
              key: envelope.key,
              type: envelope.type,
              schema: envelope.schema,
              payload,
            });
          },
          async rows(range) {
            const out = new Map<string, Observation>();
            const given =
              range === undefined
                ? undefined
                : { ...range, since: undefined as string | undefined };
            for await (const o of sink.observe(given)) {
              assert.ok(!out.has(o.key), `${o.key} read back twice`);
              out.set(o.key, o);
            }
            return out;
          },
          context(position, token) {
            return {
              sink: sink.name,
              attempt: 1,
              replay: false,
              position,
              fencingToken: token,
              signal: new AbortController().signal,
              original: undefined,
            };
          },
          async reopen() {
            if (reopen === undefined) throw new Error("no reopen");
            sink = await reopen(sink);
            return sink;
          },
        };
        try {
          await body(sink, tools);
        } finally {
          await sink.close().catch(() => undefined);
          await ledger.close();
        }
      });
    }
  });
}
