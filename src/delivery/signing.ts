/**
 * Signed receipts: HMAC-SHA256 over the RFC 8785 form of a receipt without its
 * `signature`, with a key id so that secrets can be rotated. A receipt changed after
 * signing (status, checksum, offset, anything) no longer verifies. Verification compares
 * in constant time.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { canonicalBytes } from "../canonical/canonicalize.js";
import { isCleanText } from "../envelope/schema.js";
import { CanonicalizationError, InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { readOptions } from "../internal/options.js";
import type { Receipt } from "../ledger/types.js";
import { checkReceipt } from "../ledger/validate.js";

/** A secret to sign receipts with, named by `keyId`. */
export interface ReceiptSigningKey {
  /** Names the secret; stored in the signature. 1-128 characters. */
  readonly keyId: string;
  /** The secret: at least 16 bytes (a string is taken as UTF-8). */
  readonly secret: string | Uint8Array;
}

/** Where `verifyReceipt` finds secrets: a map of key id to secret, or a lookup function. */
export type ReceiptKeys =
  | Readonly<Record<string, string | Uint8Array>>
  | ((keyId: string) => string | Uint8Array | undefined);

const LIMITS = { maxDepth: 8, maxBytes: 1024 * 1024 };
const HEX64 = /^[0-9a-f]{64}$/;

const SIGNING_KEY_KEYS = ["keyId", "secret"] as const;

function secretBytes(secret: unknown, where: string): Buffer {
  if (typeof secret === "string") return Buffer.from(secret, "utf8");
  if (reading(where, () => secret instanceof Uint8Array)) {
    return reading(where, () => Buffer.from(secret as Uint8Array));
  }
  return invalidArgument(where, `must be a string or bytes, got ${describe(secret)}`);
}

/** Checks a signing key once, so that signing on the hot path needs no checks. */
export function checkSigningKey(
  key: ReceiptSigningKey,
  where = "signReceipts",
): { keyId: string; secret: Buffer } {
  if (typeof key !== "object" || key === null)
    invalidArgument(where, `must be { keyId, secret }, got ${describe(key)}`);
  const read = readOptions<ReceiptSigningKey>(key, where, SIGNING_KEY_KEYS, {
    what: "a signing key field",
  });
  if (
    typeof read.keyId !== "string" ||
    read.keyId.length === 0 ||
    read.keyId.length > 128 ||
    !isCleanText(read.keyId)
  ) {
    // The rule receipts hold it to: checked here, not after a delivery was written.
    invalidArgument(
      `${where}.keyId`,
      "must be 1 to 128 characters, without control characters, noncharacters or lone surrogates",
    );
  }

  const secret = secretBytes(read.secret, `${where}.secret`);
  if (secret.length < 16) invalidArgument(`${where}.secret`, "must be at least 16 bytes");
  return { keyId: read.keyId, secret };
}

function mac(receipt: Receipt, secret: Buffer): string {
  const { signature: _ignored, ...unsigned } = receipt;
  return createHmac("sha256", secret).update(canonicalBytes(unsigned, LIMITS).bytes).digest("hex");
}

/**
 * Returns the receipt with its `signature`: HMAC-SHA256 (hex) of the canonical form of
 * every other field, under `key`.
 *
 * @example
 * ```ts
 * import { signReceipt, verifyReceipt } from "sinkproof";
 * const signed = signReceipt(receipt, { keyId: "2026-11", secret: process.env.RECEIPT_KEY });
 * verifyReceipt(signed, { "2026-11": process.env.RECEIPT_KEY }); // true
 * ```
 */
export function signReceipt(receipt: Receipt, key: ReceiptSigningKey): Receipt {
  const { keyId, secret } = checkSigningKey(key, "key");
  return signWith(checkReceipt(receipt), keyId, secret);
}

/** {@link signReceipt} with a key already checked. Internal. */
export function signWith(receipt: Receipt, keyId: string, secret: Buffer): Receipt {
  const { signature: _ignored, ...unsigned } = receipt;
  return Object.freeze({
    ...unsigned,
    signature: Object.freeze({
      keyId,
      algorithm: "HMAC-SHA256" as const,
      value: mac(unsigned, secret),
    }),
  });
}

/**
 * True when the receipt carries a signature made with one of `keys` over exactly its
 * current content. False for an unsigned receipt, an unknown key id, or any change after
 * signing. The comparison takes the same time wherever the signatures differ.
 *
 * @example
 * ```ts
 * import { verifyReceipt } from "sinkproof";
 * verifyReceipt(receipt, (keyId) => secrets.get(keyId));
 * ```
 */
export function verifyReceipt(receipt: Receipt, keys: ReceiptKeys): boolean {
  if (typeof keys !== "function" && (typeof keys !== "object" || keys === null)) {
    invalidArgument(
      "keys",
      `must be a map of key id to secret, or a function, got ${describe(keys)}`,
    );
  }
  if (typeof receipt !== "object" || receipt === null) return false;
  // Read once into plain objects: a receipt that cannot be read, or is not one, does not verify.
  let checked: Receipt;
  try {
    checked = checkReceipt(receipt);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return false;
    throw error;
  }
  const signature = checked.signature;
  if (
    typeof signature !== "object" ||
    signature === null ||
    signature.algorithm !== "HMAC-SHA256" ||
    typeof signature.value !== "string" ||
    !HEX64.test(signature.value) ||
    typeof signature.keyId !== "string"
  ) {
    return false;
  }
  const keyId = signature.keyId;
  // A keys function is the caller's: what it throws is passed on as it is. A map is read.
  const secret: unknown =
    typeof keys === "function"
      ? keys(keyId)
      : reading("keys", () => (Object.hasOwn(keys, keyId) ? keys[keyId] : undefined));
  if (secret === undefined) return false;
  let expected: string;
  try {
    expected = mac(checked, secretBytes(secret, "keys"));
  } catch (error) {
    if (error instanceof CanonicalizationError) return false;
    throw error;
  }
  return timingSafeEqual(Buffer.from(expected, "latin1"), Buffer.from(signature.value, "latin1"));
}
