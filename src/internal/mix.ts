/**
 * murmur3's 32-bit finalizer, shared by the hashes that need their low bits well mixed:
 * the file ledger's key and id indexes (`ledger/file/hash-index.ts`) and the order of
 * `verifySinkPayloads`' sample (`reconcile/verify-payloads.ts`).
 *
 * @module
 */

/** murmur3's `fmix32`: every input bit reaches every output bit; an unsigned 32-bit result. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
