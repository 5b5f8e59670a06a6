/**
 * In-process state shared by the ledgers that keep it in memory (memory, file): receipts
 * indexed by (sink, key) and by (sink, position), and the claim table. One implementation,
 * so both ledgers answer alike.
 *
 * @module
 */

import type { ClaimRequest } from "./base.js";
import type { Claim, ClaimResult, Receipt } from "./types.js";
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

/** Live claims by (sink, key). */
export class ClaimTable {
  readonly #claims = new Map<string, Claim>();

  /** `done` is the last final receipt of (sink, key), if any: the caller looks it up. */
  claim(request: ClaimRequest, done: Receipt | undefined): ClaimResult {
    if (done !== undefined && !request.ignoreDone) return { status: "done", receipt: done };
    const id = claimId(request.sink, request.key);
    const current = this.#claims.get(id);
    if (current !== undefined && current.expiresAt > request.now) {
      return { status: "held", owner: current.owner, expiresAt: current.expiresAt };
    }
    const claim: Claim = Object.freeze({
      sink: request.sink,
      key: request.key,
      owner: request.owner,
      token: request.token,
      expiresAt: request.expiresAt,
    });
    this.#claims.set(id, claim);
    return { status: "acquired", claim };
  }

  renew(claim: Claim, expiresAt: number): boolean {
    const id = claimId(claim.sink, claim.key);
    const current = this.#claims.get(id);
    if (current?.token !== claim.token) return false;
    this.#claims.set(id, Object.freeze({ ...current, expiresAt }));
    return true;
  }

  release(claim: Claim): boolean {
    const id = claimId(claim.sink, claim.key);
    if (this.#claims.get(id)?.token !== claim.token) return false;
    this.#claims.delete(id);
    return true;
  }
}

/** The map key of a claim: sink and key, joined by a character neither can hold. */
function claimId(sink: string, key: string): string {
  return `${sink}\u0000${key}`;
}
