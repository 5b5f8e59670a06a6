/**
 * How `BaseLedger` words a failure: an adapter's (a sinkproof error passes as it is, a
 * `CorruptionError` or a `LedgerError` the adapter chose; anything else becomes a
 * `LedgerError` `storage_error` with the failure as its cause), also in the iterables it
 * hands out, which check at each step that the ledger is still open; and the errors of
 * its own rules that an adapter's answer decides (a receipt without its entry or fenced
 * off, a claim lost, a watermark past the head).
 *
 * @module
 */

import { InvalidArgumentError, isSinkproofError, LedgerError } from "../errors.js";
import type { Claim, Receipt } from "./types.js";

/** An adapter's failure as the library's error: sinkproof errors pass, others are wrapped. */
export function storageError(error: unknown): unknown {
  if (isSinkproofError(error)) return error;
  return new LedgerError("storage_error", `Ledger storage failed: ${String(error)}`, {
    cause: error,
  });
}

/** A failure of the adapter's `_close`, worded like {@link storageError}. */
export function closeError(error: unknown): unknown {
  if (isSinkproofError(error)) return error;
  return new LedgerError("storage_error", `Closing the ledger failed: ${String(error)}`, {
    cause: error,
  });
}

/**
 * The adapter's iterable `source()`, opened on the first step: before every step the
 * ledger must still be open (`assertOpen`), and a failure to open or to step is worded
 * by {@link storageError}.
 */
export function guardedIterable<T>(
  source: () => AsyncIterable<T>,
  assertOpen: () => void,
): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      assertOpen();
      let iterator: AsyncIterator<T>;
      try {
        iterator = source()[Symbol.asyncIterator]();
      } catch (error) {
        throw storageError(error);
      }
      while (true) {
        assertOpen();
        let step: IteratorResult<T>;
        try {
          step = await iterator.next();
        } catch (error) {
          throw storageError(error);
        }
        if (step.done) return;
        yield step.value;
      }
    },
  };
}

/** `putReceipt` of a receipt whose entry (key, id and position) is not in the ledger. */
export function receiptWithoutEntry(receipt: Receipt): LedgerError {
  return new LedgerError(
    "not_found",
    `No entry with key ${JSON.stringify(receipt.key)}, id ${receipt.id} at position ${receipt.position}: a receipt must refer to an entry`,
    { key: receipt.key, position: receipt.position, sink: receipt.sink },
  );
}

/** `putReceipt` of a final receipt whose claim is not held now (taken over, released, never given). */
export function receiptFenced(receipt: Receipt): LedgerError {
  return new LedgerError(
    "fenced",
    `The claim with fencing token ${receipt.fencingToken} on ${JSON.stringify(receipt.key)} at ${receipt.sink} is not held now (taken over by a newer holder, released, or never given): this ${receipt.status} receipt does not count`,
    { key: receipt.key, position: receipt.position, sink: receipt.sink },
  );
}

/** `renewClaim` of a claim no longer held. */
export function claimLost(claim: Claim): LedgerError {
  return new LedgerError(
    "claim_lost",
    `The claim on ${JSON.stringify(claim.key)} at ${claim.sink} was taken over or released`,
    {
      key: claim.key,
      sink: claim.sink,
    },
  );
}

/** `advanceWatermark` to a position past the head. */
export function pastHead(sink: string, position: number, head: number): InvalidArgumentError {
  return new InvalidArgumentError(
    "invalid_argument",
    `position ${position} is past the head ${head}`,
    {
      path: "position",
      sink,
      position,
    },
  );
}

/** A ledger whose adapter keeps no reconciliation checkpoints. */
export function noCheckpoints(ledger: string, sink: string): LedgerError {
  return new LedgerError(
    "unsupported",
    `${ledger} keeps no reconciliation checkpoints (its adapter does not implement _getCheckpoint and _putCheckpoint): ${JSON.stringify(sink)} can be reconciled by full passes only`,
  );
}

/** A ledger whose adapter keeps no consistency-window history. */
export function noWindowHistory(ledger: string, sink: string): LedgerError {
  return new LedgerError(
    "unsupported",
    `${ledger} keeps no consistency-window history (its adapter does not implement _recordWindows and _windowHistory): the windows of ${JSON.stringify(sink)} are in each report only`,
  );
}
