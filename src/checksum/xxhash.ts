/**
 * The xxHash WebAssembly module, instantiated once when sinkproof is imported (top-level
 * await; the package is ESM-only), so every checksum call after that is synchronous.
 *
 * @module
 */

import xxhash from "xxhash-wasm";

const api = await xxhash();

/** XXH64 (seed 0) of the UTF-8 bytes of `text`, as 16 lowercase hex digits. */
export const xxh64Text: (text: string) => string = api.h64ToString;

/** XXH64 (seed 0) of `bytes`, as 16 lowercase hex digits. */
export function xxh64Bytes(bytes: Uint8Array): string {
  return api.h64Raw(bytes).toString(16).padStart(16, "0");
}

/** XXH32 (seed 0) of the UTF-8 bytes of `text`, as 8 lowercase hex digits; used for vectors only. */
export const xxh32Text: (text: string) => string = api.h32ToString;

/** XXH32 (seed 0) of `bytes`, as an unsigned 32-bit number; frames of the file ledger. */
export function xxh32Bytes(bytes: Uint8Array): number {
  return api.h32Raw(bytes) >>> 0;
}
