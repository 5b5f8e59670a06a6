/**
 * The text limits of what sinkproof stores: receipts, freezes, audit records and error
 * summaries. The ledger's checks (`ledger/validate.ts`) refuse anything longer, and the
 * code that writes such text (the guard's `delivery/limits.ts`, `errorSummary`) cuts it to
 * the same numbers, so that one place says how long each piece may be.
 *
 * @module
 */

/** Most characters of a message: an error's, an issue's, a freeze's or an audit reason. */
export const MESSAGE_LIMIT = 4096;
/** Most characters of a code: an error's, an issue's, an audit action's. */
export const CODE_LIMIT = 128;
/** Most characters of an issue's path. */
export const PATH_LIMIT = 1024;
/** Most characters of a receipt's `sinkOffset`. */
export const OFFSET_LIMIT = 1024;
/** Most characters of a sink name (and of a signing key id). */
export const NAME_LIMIT = 128;
/** Most characters of a claim owner or an audit actor. */
export const OWNER_LIMIT = 256;
