/**
 * What the ledger conformance cases share: the tools each case gets, sample envelopes and
 * receipts, and assertion helpers. Internal to `sinkproof/testing`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Envelope } from "../envelope/schema.js";
import type { createSealer } from "../envelope/seal.js";
import { isSinkproofError } from "../errors.js";
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

export interface Tools<L extends Ledger> {
  readonly clock: ManualClock;
  readonly seal: ReturnType<typeof createSealer>;
  /** Closes and reopens the ledger (durable ledgers only); use the returned ledger after. */
  reopen(): Promise<L>;
  /** Lets claims of `ms` TTL expire. */
  expire(ms: number): Promise<void>;
}

export type Define<L extends Ledger> = (
  title: string,
  body: (ledger: L, t: Tools<L>) => Promise<void>,
) => void;

export function event(
  t: Tools<Ledger>,
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
  t: Tools<Ledger>,
  count: number,
  from = 0,
): Promise<LedgerEntry[]> {
  const { results } = await ledger.append(
    Array.from({ length: count }, (_, i) => event(t, from + i)),
  );
  return results.map((r) => r.entry);
}
