/**
 * Debug logging through the `debug` package, one namespace per module:
 * `sinkproof:canonical`, `sinkproof:checksum`, `sinkproof:envelope`, ... Enable them with
 * `DEBUG=sinkproof:*`. Logging is off by default and costs one property read when off.
 *
 * @module
 */

import createDebug from "debug";

/** A debug logger; call it like `console.log`, with `%s`/`%o` formatters. */
export interface Logger {
  (formatter: unknown, ...args: unknown[]): void;
  /** True when this namespace is enabled; guard costly log arguments with it. */
  readonly enabled: boolean;
  /** The full namespace, e.g. `sinkproof:envelope`. */
  readonly namespace: string;
}

/** The logger of one module: namespace `sinkproof:<module>`. */
export function logger(module: string): Logger {
  return createDebug(`sinkproof:${module}`);
}
