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
    if (receipts === undefined) return undefined;
    for (let i = receipts.length - 1; i >= 0; i--) {
      const receipt = receipts[i] as Receipt;
      if (isFinalStatus(receipt.status)) return receipt;
    }
    return undefined;
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

/** A claim as the table keeps it: released claims stay, so their fencing token is known. */
interface ClaimRow {
  readonly claim: Claim;
  readonly released: boolean;
}

/**
 * Claims by (sink, key), released ones included, so that the next acquisition's fencing
 * token is above every token this table gave for the key. Tokens come from `nextToken`,
 * which must strictly increase over the table's lifetime (a counter, or one made durable
 * by the ledger).
 */
export class ClaimTable {
  readonly #claims = new Map<string, ClaimRow>();
  readonly #nextToken: () => number;

  constructor(nextToken?: () => number) {
    let counter = 0;
    this.#nextToken = nextToken ?? (() => ++counter);
  }

  /** `done` is the last final receipt of (sink, key), if any: the caller looks it up. */
  claim(request: ClaimRequest, done: Receipt | undefined): ClaimResult {
    if (done !== undefined && !request.ignoreDone) return { status: "done", receipt: done };
    const id = claimId(request.sink, request.key);
    const current = this.#claims.get(id);
    if (
      current !== undefined &&
      !current.released &&
      current.claim.expiresAt > request.now &&
      (request.takeOverFrom === undefined || current.claim.owner !== request.takeOverFrom)
    ) {
      return { status: "held", owner: current.claim.owner, expiresAt: current.claim.expiresAt };
    }
    const claim: Claim = trustedClaim({
      sink: request.sink,
      key: request.key,
      owner: request.owner,
      token: request.token,
      fencingToken: Math.max(this.#nextToken(), (current?.claim.fencingToken ?? 0) + 1),
      expiresAt: request.expiresAt,
    });
    this.#claims.set(id, { claim, released: false });
    return { status: "acquired", claim };
  }

  renew(claim: Claim, expiresAt: number): boolean {
    const id = claimId(claim.sink, claim.key);
    const current = this.#claims.get(id);
    if (current === undefined || current.released || current.claim.token !== claim.token) {
      return false;
    }
    this.#claims.set(id, {
      claim: trustedClaim({ ...current.claim, expiresAt }),
      released: false,
    });
    return true;
  }

  release(claim: Claim): boolean {
    const id = claimId(claim.sink, claim.key);
    const current = this.#claims.get(id);
    if (current === undefined || current.released || current.claim.token !== claim.token) {
      return false;
    }
    this.#claims.set(id, { claim: current.claim, released: true });
    return true;
  }

  /**
   * True when a final receipt with this fencing token must be refused: a claim of
   * (sink, key) with a higher token was given since.
   */
  fenced(sink: string, key: string, fencingToken: number): boolean {
    const current = this.#claims.get(claimId(sink, key));
    return current !== undefined && current.claim.fencingToken > fencingToken;
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

/** The map key of a claim: sink and key, joined by a character neither can hold. */
function claimId(sink: string, key: string): string {
  return `${sink}\u0000${key}`;
}
