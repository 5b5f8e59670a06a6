/**
 * Optional peer dependencies (database drivers), loaded on first use: a ledger module can
 * be imported without its driver, and opening it without one says how to install it.
 *
 * @module
 */

import { LedgerError } from "../errors.js";

/**
 * A loader of one optional peer: `load` imports it (a literal `import("pg")`, so bundlers
 * see it), once; its default export (CommonJS) or the module itself is the answer. A
 * missing package is a `LedgerError` `missing_driver` whose message is `fix`, and the next
 * call tries again (the package may have been installed since).
 */
export function peerLoader<T>(load: () => Promise<unknown>, fix: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().then(
      (module) => ((module as { default?: unknown }).default ?? module) as T,
      (error: unknown) => {
        loaded = undefined;
        throw new LedgerError("missing_driver", fix, { cause: error });
      },
    );
    return loaded;
  };
}
