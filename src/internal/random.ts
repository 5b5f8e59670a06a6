/**
 * Seeded randomness for reproducible choices (fault injection in tests, payload samples
 * in `verifySinkPayloads`): the same seed gives the same sequence on every run and
 * platform. Not for anything secret. Internal; `sinkproof/testing` exports
 * `createSeededRandom`.
 *
 * @module
 */

import { invalidArgument, show } from "./arguments.js";

/**
 * A seeded pseudo-random generator (mulberry32): numbers in `[0, 1)`, the same sequence for
 * the same seed. Small and fast; plenty for fault injection and reproducible test data,
 * not for anything secret.
 *
 * @example
 * ```ts
 * import { createSeededRandom } from "sinkproof/testing";
 * const random = createSeededRandom(42);
 * if (random() < 0.01) dropThisWrite();
 * ```
 */
export function createSeededRandom(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) invalidArgument("seed", `must be an integer, got ${show(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
