/**
 * In-process state shared by the ledgers that keep it in memory (memory, file): receipts
 * indexed by (sink, key) and by (sink, position), the claim table with its fencing
 * tokens, and the freezes. One implementation, so both ledgers answer alike.
 *
 * @module
 */

import type { ClaimRequest } from "./base.js";
import { trustedClaim } from "./base-checks.js";
import type { Claim, ClaimResult, Receipt, SinkFreeze } from "./types.js";
import { isFinalStatus } from "./validate.js";

interface SinkReceipts {
  readonly byKey: Map<string, Receipt[]>;
  /** Index = position; holes where a position has no receipt. */
  readonly byPosition: Array<Receipt[] | undefined>;
}

/** Receipts by sink, key and position. */
export class ReceiptIndex {
  readonly #sinks = new Map<string, SinkReceipts>();

  put(receipt: Receipt): void {
    let sink = this.#sinks.get(receipt.sink);
    if (sink === undefined) {
      sink = { byKey: new Map(), byPosition: [] };
      this.#sinks.set(receipt.sink, sink);
    }
    const forKey = sink.byKey.get(receipt.key);
    if (forKey === undefined) sink.byKey.set(receipt.key, [receipt]);
    else forKey.push(receipt);
    while (sink.byPosition.length <= receipt.position) sink.byPosition.push(undefined);
    const forPosition = sink.byPosition[receipt.position];
    if (forPosition === undefined) sink.byPosition[receipt.position] = [receipt];
    else forPosition.push(receipt);
  }

  get(sink: string, key: string): readonly Receipt[] {
    return Object.freeze([...(this.#sinks.get(sink)?.byKey.get(key) ?? [])]);
  }

  /** The last receipt of (sink, key) with a final status. */
  lastFinal(sink: string, key: string): Receipt | undefined {
    const receipts = this.#sinks.get(sink)?.byKey.get(key);
    return receipts === undefined ? undefined : lastFinalOf(receipts);
  }

  /**
   * Of each key of `sink` at positions 1 to `through` with a final receipt, keeps only the
   * last final one; returns how many receipts were removed.
   */
  compact(sink: string, through: number): number {
    const receipts = this.#sinks.get(sink);
    if (receipts === undefined) return 0;
    const { byKey, byPosition } = receipts;
    let removed = 0;
    const last = Math.min(through, byPosition.length - 1);
    for (let position = 1; position <= last; position++) {
      const list = byPosition[position];
      if (list === undefined || list.length < 2) continue;
      const kept = lastFinalOf(list);
      if (kept === undefined) continue;
      removed += list.length - 1;
      byPosition[position] = [kept];
      byKey.set(kept.key, [kept]);
    }
    return removed;
  }

  *scan(sink: string, from: number, to: number): Iterable<Receipt> {
    const byPosition = this.#sinks.get(sink)?.byPosition;
    if (byPosition === undefined) return;
    for (let position = from; position <= to && position < byPosition.length; position++) {
      const receipts = byPosition[position];
      if (receipts !== undefined) yield* receipts.slice();
    }
  }
}

/**
 * Claims by (sink, key) that are held (live or expired, not released). A released claim is
 * forgotten at once, so the table grows with the work in flight, not with every key ever
 * delivered. Tokens come from `nextToken`, which must strictly increase over the table's
 * lifetime (a counter, or one made durable by the ledger), so a new claim's token is above
 * every token this table gave, for any key.
 *
 * The fence needs nothing of a released claim: a final receipt with a fencing token is
 * stored only under the claim of (sink, key) held now, with exactly that token (every
 * ledger's rule; see `Ledger.putReceipt`). A token that was taken over, released, given for
 * another key or never given is refused. The guard puts its receipt before it releases, so
 * none of its own receipts comes after the release.
 */
export class ClaimTable {
  /** By sink, then key: the keys (an envelope's own strings) keep their hashes, no id is built. */
  readonly #claims = new Map<string, Map<string, Claim>>();
  readonly #nextToken: () => number;
  #size = 0;

  constructor(nextToken?: () => number) {
    let counter = 0;
    this.#nextToken = nextToken ?? (() => ++counter);
  }

  /** How many claims are held (not released): what the table keeps. */
  get size(): number {
    return this.#size;
  }

  /** `done` is the last final receipt of (sink, key), if any: the caller looks it up. */
  claim(request: ClaimRequest, done: Receipt | undefined): ClaimResult {
    if (done !== undefined && !request.ignoreDone) return { status: "done", receipt: done };
    let ofSink = this.#claims.get(request.sink);
    if (ofSink === undefined) {
      ofSink = new Map();
      this.#claims.set(request.sink, ofSink);
    }
    const current = ofSink.get(request.key);
    if (
      current !== undefined &&
      current.expiresAt > request.now &&
      (request.takeOverFrom === undefined || current.owner !== request.takeOverFrom)
    ) {
      return { status: "held", owner: current.owner, expiresAt: current.expiresAt };
    }
    const claim: Claim = trustedClaim({
      sink: request.sink,
      key: request.key,
      owner: request.owner,
      token: request.token,
      fencingToken: Math.max(this.#nextToken(), (current?.fencingToken ?? 0) + 1),
      expiresAt: request.expiresAt,
    });
    ofSink.set(request.key, claim);
    if (current === undefined) this.#size++;
    return { status: "acquired", claim };
  }

  renew(claim: Claim, expiresAt: number): boolean {
    const ofSink = this.#claims.get(claim.sink);
    const current = ofSink?.get(claim.key);
    if (ofSink === undefined || current === undefined || current.token !== claim.token) {
      return false;
    }
    ofSink.set(claim.key, trustedClaim({ ...current, expiresAt }));
    return true;
  }

  release(claim: Claim): boolean {
    const ofSink = this.#claims.get(claim.sink);
    const current = ofSink?.get(claim.key);
    if (ofSink === undefined || current === undefined || current.token !== claim.token) {
      return false;
    }
    ofSink.delete(claim.key);
    this.#size--;
    // A sink's map goes with its last claim: sinks come and go, the table stays small.
    if (ofSink.size === 0) this.#claims.delete(claim.sink);
    return true;
  }

  /**
   * True when a final receipt with this fencing token must be refused: it is not the
   * token of the claim of (sink, key) held now (expired or not, but neither taken over
   * nor released). Nothing of a released claim needs keeping for this.
   */
  fenced(sink: string, key: string, fencingToken: number): boolean {
    return this.#claims.get(sink)?.get(key)?.fencingToken !== fencingToken;
  }
}

/** Freezes by sink and origin, oldest first: shared by the ledgers that keep them in memory. */
export class FreezeTable {
  readonly #bySink = new Map<string, SinkFreeze[]>();

  get(sink: string): readonly SinkFreeze[] {
    return Object.freeze([...(this.#bySink.get(sink) ?? [])]);
  }

  find(sink: string, origin: string): SinkFreeze | undefined {
    return this.#bySink.get(sink)?.find((f) => f.origin === origin);
  }

  all(): readonly SinkFreeze[] {
    const sinks = [...this.#bySink.keys()].sort();
    return Object.freeze(sinks.flatMap((sink) => this.#bySink.get(sink) ?? []));
  }

  /** Sets (a freeze) or clears (undefined) the freeze of (sink, origin). */
  set(sink: string, origin: string, freeze: SinkFreeze | undefined): void {
    const rest = (this.#bySink.get(sink) ?? []).filter((f) => f.origin !== origin);
    if (freeze !== undefined) rest.push(Object.freeze({ ...freeze }));
    if (rest.length === 0) this.#bySink.delete(sink);
    else this.#bySink.set(sink, rest);
  }
}

/** The last receipt of `receipts` with a final status. */
function lastFinalOf(receipts: readonly Receipt[]): Receipt | undefined {
  for (let i = receipts.length - 1; i >= 0; i--) {
    const receipt = receipts[i] as Receipt;
    if (isFinalStatus(receipt.status)) return receipt;
  }
  return undefined;
}
