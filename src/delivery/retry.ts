/**
 * Retries of sink writes: exponential backoff with full jitter, an attempt limit, a
 * retryable/permanent decision, and cancellation through an AbortSignal.
 *
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): the wait before
 * attempt n+1 is uniform in [0, min(maxDelayMs, baseDelayMs × 2^(n-1))], which spreads
 * the retries of many callers instead of synchronising them.
 *
 * @module
 */

import { checkFunction, optionalInteger } from "../internal/checks.js";
import { optionKeys, readOptions } from "../internal/options.js";

const PERMANENT: unique symbol = Symbol.for("sinkproof.permanent") as never;

/** How a guard retries a failing write. */
export interface RetryOptions {
  /**
   * Attempts in all, the first included. 1 means no retry.
   * @default 5
   */
  readonly attempts?: number | undefined;
  /**
   * Cap of the first backoff, in ms; it doubles with every attempt.
   * @default 50
   */
  readonly baseDelayMs?: number | undefined;
  /**
   * Largest backoff, in ms.
   * @default 5_000
   */
  readonly maxDelayMs?: number | undefined;
  /**
   * Decides whether an error is worth another attempt.
   * @default {@link isRetryable}: everything but errors marked with {@link permanent}
   */
  readonly retryable?: ((error: unknown) => boolean) | undefined;
  /**
   * Uniform random number in [0, 1) for the jitter; inject for deterministic tests.
   * @default Math.random
   */
  readonly random?: (() => number) | undefined;
  /**
   * Waits `ms` milliseconds, or rejects when `signal` aborts; inject to test without waiting.
   * @default a setTimeout-based sleep
   */
  readonly sleep?: ((ms: number, signal: AbortSignal | undefined) => Promise<void>) | undefined;
}

/** {@link RetryOptions} with every default filled in. */
export interface RetryPolicy {
  /** Attempts in all. */
  readonly attempts: number;
  /** Cap of the first backoff, in ms. */
  readonly baseDelayMs: number;
  /** Largest backoff, in ms. */
  readonly maxDelayMs: number;
  /** The retry decision. */
  readonly retryable: (error: unknown) => boolean;
  /** The jitter's random source. */
  readonly random: () => number;
  /** The wait. */
  readonly sleep: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

/**
 * Marks an error as permanent: the guard will not retry it (a 400 from an HTTP sink, a
 * constraint violation that retrying cannot fix). Returns the same error.
 *
 * @example
 * ```ts
 * import { permanent } from "sinkproof";
 * const write = async (envelope) => {
 *   const response = await fetch(url, { method: "PUT", body: JSON.stringify(envelope.payload) });
 *   if (response.status === 400) throw permanent(new Error("bad request"));
 *   if (!response.ok) throw new Error(`HTTP ${response.status}`); // retried
 * };
 * ```
 */
export function permanent<E>(error: E): E {
  if (typeof error === "object" && error !== null) {
    // Remembered here too: a frozen error (or a Proxy that refuses) cannot carry the mark.
    PERMANENT_ERRORS.add(error);
    try {
      Object.defineProperty(error, PERMANENT, { value: true, configurable: true });
    } catch {
      // not extensible: the set above is the mark
    }
  }
  return error;
}

/** Errors marked by {@link permanent} in this copy of the library (the mark itself crosses copies). */
const PERMANENT_ERRORS = new WeakSet<object>();

/** The default retry decision: retry everything except errors marked with {@link permanent}. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return true;
  if (PERMANENT_ERRORS.has(error)) return false;
  try {
    return (error as Record<symbol, unknown>)[PERMANENT] !== true;
  } catch {
    return true; // a Proxy whose trap throws carries no mark
  }
}

/** Sleeps `ms`, or rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Checks retry options and fills in the defaults. */
const RETRY_KEYS = optionKeys<RetryOptions>()(
  "attempts",
  "baseDelayMs",
  "maxDelayMs",
  "retryable",
  "random",
  "sleep",
);

export function resolveRetry(
  options: RetryOptions | undefined,
  where = "options.retry",
): RetryPolicy {
  const o = readOptions<RetryOptions>(options, where, RETRY_KEYS);
  const int = (value: unknown, name: string, min: number, max: number, fallback: number) =>
    optionalInteger(value, `${where}.${name}`, min, max, fallback);
  const fn = <F>(value: unknown, name: string, fallback: F): F =>
    value === undefined ? fallback : (checkFunction(value, `${where}.${name}`) as F);
  return {
    attempts: int(o.attempts, "attempts", 1, 1000, 5),
    baseDelayMs: int(o.baseDelayMs, "baseDelayMs", 0, 3_600_000, 50),
    maxDelayMs: int(o.maxDelayMs, "maxDelayMs", 0, 86_400_000, 5_000),
    retryable: fn(o.retryable, "retryable", isRetryable),
    random: fn(o.random, "random", Math.random),
    sleep: fn(o.sleep, "sleep", sleep),
  };
}

/** The full-jitter backoff before attempt `attempt + 1` (attempts count from 1). */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(policy.random() * cap);
}
