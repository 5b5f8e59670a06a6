/**
 * What the ledger conformance cases share: the tools each case gets, how a group defines
 * its cases and the shape of a group (public, through `sinkproof/testing`, so that the
 * group functions can be named), `defineGroup`, which makes a group that checks its
 * arguments before defining its cases, sample envelopes and receipts, and assertion
 * helpers (internal to `sinkproof/testing`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Envelope } from "../envelope/schema.js";
import type { createSealer } from "../envelope/seal.js";
import { isSinkproofError } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { checkBoolean } from "../internal/checks.js";
import type { Ledger, LedgerEntry, Receipt } from "../ledger/types.js";
import type { ManualClock } from "./clock.js";

export const sleep = (ms: number): Promise<unknown> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export async function rejectsWith(
  promise: Promise<unknown> | (() => unknown),
  check: (error: unknown) => boolean,
  message: string,
): Promise<unknown> {
  let thrown: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `${message}: expected an error, nothing was thrown`);
  assert.ok(check(thrown), `${message}: unexpected error ${String(thrown)}`);
  return thrown;
}

export function codeIs(code: string): (error: unknown) => boolean {
  return (error: unknown) => isSinkproofError(error) && error.code === code;
}

/** What each conformance case gets besides its ledger, fresh for every case. */
export interface ConformanceTools<L extends Ledger> {
  /** The clock the ledger was given (see `ConformanceContext`). */
  readonly clock: ManualClock;
  /** Seals the case's envelopes, timed by `clock`. */
  readonly seal: ReturnType<typeof createSealer>;
  /** Closes and reopens the ledger (durable ledgers only); use the returned ledger after. */
  reopen(): Promise<L>;
  /** Lets claims of `ms` TTL expire. */
  expire(ms: number): Promise<void>;
}

/**
 * How a group of conformance cases defines each case: `ledgerConformance` gives one that
 * collects the cases, then runs each, not skipped, with the runner's `it` on a fresh ledger.
 */
export type ConformanceTest<L extends Ledger> = (
  title: string,
  body: (ledger: L, t: ConformanceTools<L>) => Promise<void>,
) => void;

/** A group of conformance cases: `ledgerAppendCases`, `ledgerClaimCases`, ... */
export type ConformanceGroup = <L extends Ledger>(
  test: ConformanceTest<L>,
  durable: boolean,
) => void;

/** Checks the arguments of a group of cases: a typed error at `test` or `durable`. */
function checkGroup(test: unknown, durable: unknown): void {
  if (typeof test !== "function")
    invalidArgument("test", `must be a function that defines a case, got ${describe(test)}`);
  checkBoolean(durable, "durable");
}

/**
 * A group of cases from the function that defines them: the group checks its arguments
 * first. The cases see the ledger as a `Ledger`, whatever the adapter's own type.
 */
export function defineGroup(
  cases: (test: ConformanceTest<Ledger>, durable: boolean) => void,
): ConformanceGroup {
  return (test, durable) => {
    checkGroup(test, durable);
    cases(test, durable);
  };
}

export function event(
  t: ConformanceTools<Ledger>,
  seq: number,
  overrides: Record<string, unknown> = {},
): Envelope {
  return t.seal({
    producer: "orders-svc",
    stream: "orders",
    seq,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { orderId: `o-${seq}`, total: seq * 10 + 0.5 },
    ...overrides,
  });
}

export function receiptFor(entry: LedgerEntry, overrides: Partial<Receipt> = {}): Receipt {
  return {
    sink: "warehouse",
    key: entry.envelope.key,
    id: entry.envelope.id,
    position: entry.position,
    status: "written",
    checksum: entry.envelope.checksum,
    attempt: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:00.010Z",
    ...overrides,
  };
}

export async function fill(
  ledger: Ledger,
  t: ConformanceTools<Ledger>,
  count: number,
  from = 0,
): Promise<LedgerEntry[]> {
  const { results } = await ledger.append(
    Array.from({ length: count }, (_, i) => event(t, from + i)),
  );
  return results.map((r) => r.entry);
}

/** Appends `count` entries, as {@link fill} does, and returns the first. */
export async function firstEntry(
  ledger: Ledger,
  t: ConformanceTools<Ledger>,
  count = 1,
): Promise<LedgerEntry> {
  const [entry] = await fill(ledger, t, count);
  assert.ok(entry !== undefined);
  return entry;
}
