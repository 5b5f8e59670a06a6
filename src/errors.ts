/**
 * The one error hierarchy of sinkproof.
 *
 * Every error the public API throws is a {@link SinkproofError}: it has a literal `code`,
 * an optional JSON `path` to the offending value, the `cause` it wraps (through
 * `ErrorOptions`), and context fields (key, sink, position) where they apply. Raw
 * `TypeError`, `RangeError` or `ZodError` never escape: they are caught at the module
 * boundary and wrapped.
 *
 * `isSinkproofError()` checks a brand symbol from the global registry, so it also
 * recognises errors thrown by another copy of the library or in another realm
 * (a worker, a `vm` context), where `instanceof` fails.
 *
 * @module
 */

import type { LedgerEntry } from "./ledger/types.js";

const BRAND: symbol = Symbol.for("sinkproof.error");

/** Every `code` a {@link SinkproofError} can carry. */
export type SinkproofErrorCode =
  | CanonicalizationErrorCode
  | "invalid_argument"
  | "invalid_checksum"
  | "checksum_mismatch"
  | "unverifiable"
  | "invalid_envelope"
  | "id_overflow"
  | "idempotency_conflict"
  | "id_conflict"
  | LedgerErrorCode
  | "corruption"
  | "ledger_locked"
  | DeliveryErrorCode
  | "invalid_payload"
  | "incompatible_schema"
  | SchemaRegistryErrorCode
  | "invalid_cloudevent"
  | SinkErrorCode;

/** The `code`s of {@link SinkError}. */
export type SinkErrorCode = "sink_closed" | "sink_storage_error";

/** The `code`s of {@link SchemaRegistryError}. */
export type SchemaRegistryErrorCode =
  | "unknown_schema"
  | "downcast"
  | "upcast_gap"
  | "upcast_failed"
  | "upcast_invalid";

/** The `code`s of {@link DeliveryError}. */
export type DeliveryErrorCode =
  | "sink_frozen"
  | "not_in_ledger"
  | "ledger_mismatch"
  | "backlog_full"
  | "pipeline_closed"
  | "sink_failing";

/** The `code`s of {@link LedgerError}. */
export type LedgerErrorCode =
  | "ledger_closed"
  | "ledger_failed"
  | "storage_error"
  | "not_found"
  | "claim_lost"
  | "fenced"
  | "unavailable"
  | "serialization_failure"
  | "unsafe_settings"
  | "database_too_new"
  | "missing_driver"
  | "database_not_found"
  | "authentication_failed"
  | "permission_denied"
  | "ledger_full"
  | "unsupported";

/** The `code`s of {@link CanonicalizationError}: which JSON rule the value broke. */
export type CanonicalizationErrorCode =
  | "non_finite_number"
  | "lone_surrogate"
  | "bigint"
  | "function"
  | "symbol"
  | "undefined"
  | "cycle"
  | "unsupported_object"
  | "invalid_date"
  | "too_deep"
  | "too_large"
  | "unreadable_value";

/** Context fields an error may carry, beside its code and message. */
export interface SinkproofErrorContext {
  /** JSON path of the offending value, e.g. `$.items[3].price`. */
  readonly path?: string | undefined;
  /** The idempotency key concerned. */
  readonly key?: string | undefined;
  /** The sink concerned. */
  readonly sink?: string | undefined;
  /** The ledger position concerned. */
  readonly position?: number | undefined;
  /** The error this one wraps. */
  readonly cause?: unknown;
}

/**
 * Base class of every error thrown by sinkproof.
 *
 * @example
 * ```ts
 * import { canonicalize, isSinkproofError } from "sinkproof";
 * try {
 *   canonicalize({ price: Number.NaN });
 * } catch (error) {
 *   if (isSinkproofError(error)) console.log(error.code, error.path); // non_finite_number $.price
 * }
 * ```
 */
export class SinkproofError<C extends SinkproofErrorCode = SinkproofErrorCode> extends Error {
  /** Machine-readable reason; stable across versions. */
  readonly code: C;
  /** JSON path of the offending value, when there is one. */
  readonly path: string | undefined;
  /** The idempotency key concerned, when there is one. */
  readonly key: string | undefined;
  /** The sink concerned, when there is one. */
  readonly sink: string | undefined;
  /** The ledger position concerned, when there is one. */
  readonly position: number | undefined;

  constructor(code: C, message: string, context: SinkproofErrorContext = {}) {
    super(message, "cause" in context ? { cause: context.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.path = context.path;
    this.key = context.key;
    this.sink = context.sink;
    this.position = context.position;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True when `error` is a {@link SinkproofError}, from this copy of the library or any other
 * (another realm, a duplicated install).
 *
 * @example
 * ```ts
 * import { isSinkproofError, parseEnvelope } from "sinkproof";
 * try { parseEnvelope("nope"); } catch (e) { isSinkproofError(e); } // true
 * ```
 */
export function isSinkproofError(error: unknown): error is SinkproofError {
  if (typeof error !== "object" || error === null) return false;
  try {
    return (error as Record<symbol, unknown>)[BRAND] === true;
  } catch {
    return false; // a Proxy whose trap throws is no sinkproof error
  }
}

/**
 * A value cannot be put in canonical form (RFC 8785): it is not JSON, or it breaks a limit.
 * `path` names the offending value.
 *
 * @example
 * ```ts
 * import { CanonicalizationError, canonicalize } from "sinkproof";
 * try {
 *   canonicalize({ items: [{ qty: 1n }] });
 * } catch (error) {
 *   if (error instanceof CanonicalizationError) console.log(error.code, error.path); // bigint $.items[0].qty
 * }
 * ```
 */
export class CanonicalizationError extends SinkproofError<CanonicalizationErrorCode> {}

/**
 * An argument or option given to a sinkproof function is not of the documented form.
 * `path` names the argument (e.g. `options.maxDepth`).
 *
 * @example
 * ```ts
 * import { canonicalize, InvalidArgumentError } from "sinkproof";
 * try {
 *   canonicalize({}, { maxDepth: 0 });
 * } catch (error) {
 *   if (error instanceof InvalidArgumentError) console.log(error.path); // options.maxDepth
 * }
 * ```
 */
export class InvalidArgumentError extends SinkproofError<"invalid_argument" | "invalid_checksum"> {}

/** One problem found while validating foreign input. */
export interface ValidationIssue {
  /** JSON path inside the validated value, e.g. `$.schema.version`. */
  readonly path: string;
  /** Machine-readable rule that failed (zod issue codes, plus sinkproof's canonical codes). */
  readonly code: string;
  /** Human-readable description. */
  readonly message: string;
}

/** The first issue and how many more (`none` when there are none), for an error's message. */
function issuesText(issues: readonly ValidationIssue[], none = "rejected"): string {
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  return `${first === undefined ? none : `${first.path}: ${first.message}`}${more}`;
}

/** An error's context with the first issue's path, unless the caller's context names one. */
function issuesContext(
  issues: readonly ValidationIssue[],
  context: SinkproofErrorContext,
): SinkproofErrorContext {
  return { path: issues[0]?.path, ...context };
}

/**
 * Foreign input (from a queue, HTTP, a file) is not a valid envelope. `issues` lists every
 * problem found, each with its path, code and message.
 *
 * @example
 * ```ts
 * import { EnvelopeValidationError, parseEnvelope } from "sinkproof";
 * try {
 *   parseEnvelope('{"id":"nope"}');
 * } catch (error) {
 *   if (error instanceof EnvelopeValidationError) {
 *     for (const issue of error.issues) console.log(issue.path, issue.code, issue.message);
 *   }
 * }
 * ```
 */
export class EnvelopeValidationError extends SinkproofError<"invalid_envelope"> {
  /** Every problem found, in document order. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], context: SinkproofErrorContext = {}) {
    super(
      "invalid_envelope",
      `Invalid envelope: ${issuesText(issues, "invalid envelope")}`,
      issuesContext(issues, context),
    );
    this.issues = Object.freeze([...issues]);
  }
}

/**
 * An envelope's payload does not match its checksum (code `checksum_mismatch`: it was
 * altered after it was sealed), or its integrity cannot be checked at all (code
 * `unverifiable`: malformed checksum, payload that is not JSON). `issues` says what.
 *
 * @example
 * ```ts
 * import { assertIntact, IntegrityError } from "sinkproof";
 * try {
 *   assertIntact({ ...envelope, payload: { total: 0 } });
 * } catch (error) {
 *   if (error instanceof IntegrityError) console.log(error.expected, error.actual);
 * }
 * ```
 */
export class IntegrityError extends SinkproofError<"checksum_mismatch" | "unverifiable"> {
  /** The checksum the envelope carries, when it has one. */
  readonly expected: string | undefined;
  /** The checksum recomputed from the payload's canonical form, when it could be. */
  readonly actual: string | undefined;
  /** Every problem found. */
  readonly issues: readonly ValidationIssue[];

  constructor(
    code: "checksum_mismatch" | "unverifiable",
    message: string,
    details: {
      expected?: string | undefined;
      actual?: string | undefined;
      issues: readonly ValidationIssue[];
    },
    context: SinkproofErrorContext = {},
  ) {
    super(code, message, context);
    this.expected = details.expected;
    this.actual = details.actual;
    this.issues = Object.freeze([...details.issues]);
  }
}

/**
 * An id factory cannot produce another id: the random part overflowed within one
 * millisecond (2^80 ids, or a random source that started near the top).
 *
 * @example
 * ```ts
 * import { createIdFactory, IdError } from "sinkproof";
 * const next = createIdFactory({ clock: () => 0, random: () => 0.999 });
 * next(); // "0000000000ZZZZZZZZZZZZZZZZ"
 * try { next(); } catch (error) { error instanceof IdError; } // true: code id_overflow
 * ```
 */
export class IdError extends SinkproofError<"id_overflow"> {}

/**
 * An append would give an idempotency key a second meaning: the ledger already holds an
 * entry with this key and another checksum (code `idempotency_conflict`), or an entry with
 * this id under another key (code `id_conflict`). Nothing of the append was written.
 * `existing` is the entry already in the ledger (absent when the clash is between two
 * envelopes of the same batch).
 *
 * @example
 * ```ts
 * import { IdempotencyConflictError } from "sinkproof";
 * try {
 *   await ledger.append([envelope]);
 * } catch (error) {
 *   if (error instanceof IdempotencyConflictError) console.log(error.existing?.envelope.checksum);
 * }
 * ```
 */
export class IdempotencyConflictError extends SinkproofError<
  "idempotency_conflict" | "id_conflict"
> {
  /** The entry already in the ledger, when the clash is with one. */
  readonly existing: LedgerEntry | undefined;
  /** The checksum of the envelope that was refused. */
  readonly incoming: string;

  constructor(
    code: "idempotency_conflict" | "id_conflict",
    message: string,
    details: { existing: LedgerEntry | undefined; incoming: string },
    context: SinkproofErrorContext = {},
  ) {
    super(code, message, context);
    this.existing = details.existing;
    this.incoming = details.incoming;
  }
}

/**
 * A ledger cannot do what was asked: it is closed (`ledger_closed`), it failed earlier and
 * must be reopened (`ledger_failed`), its storage threw (`storage_error`, with the cause),
 * an entry a call refers to does not exist (`not_found`), or a claim was lost
 * (`claim_lost`).
 *
 * The database ledgers add: the server cannot be reached or the connection was lost, or
 * the database stayed busy (`unavailable`: nothing of the call was committed unless the
 * loss came during the commit itself; retry later); a transaction kept failing to
 * serialize after retries (`serialization_failure`); the database's durability settings
 * are weaker than the ledger promises (`unsafe_settings`, at open); the database was
 * created by a newer version of sinkproof (`database_too_new`, at open); the optional
 * driver package is not installed (`missing_driver`, with the install command).
 *
 * Configuration mistakes have codes of their own, and trying again never helps them: the
 * database does not exist (`database_not_found`), the server refused the role or its
 * password (`authentication_failed`: wrong password, no such role, a role without LOGIN,
 * no pg_hba.conf entry), the role lacks a privilege the call needs (`permission_denied`:
 * CONNECT on the database, CREATE on the schema at open, a table's grants).
 *
 * Only `unavailable` and `serialization_failure` are worth retrying (see
 * {@link isTransientLedgerError}); every other code says something a retry cannot change.
 *
 * @example
 * ```ts
 * import { LedgerError } from "sinkproof";
 * await ledger.close();
 * await ledger.head().catch((error: LedgerError) => error.code); // "ledger_closed"
 * ```
 */
export class LedgerError extends SinkproofError<LedgerErrorCode> {}

const RETRYABLE: ReadonlySet<string> = new Set(["unavailable", "serialization_failure"]);

/**
 * True when trying the call again later may succeed: a {@link LedgerError} with code
 * `unavailable` (the server could not be reached, the connection was lost, the database
 * stayed locked) or `serialization_failure` (transactions kept colliding). False for every
 * other error, configuration mistakes (`database_not_found`, `authentication_failed`,
 * `permission_denied`, an `InvalidArgumentError`) and damage (`corruption`) among them: a
 * loop that retries on `isTransientLedgerError` never spins on a mistake. Works across realms, like
 * {@link isSinkproofError}.
 *
 * @example
 * ```ts
 * import { isTransientLedgerError } from "sinkproof";
 * for (let attempt = 1; ; attempt++) {
 *   try {
 *     await ledger.append([envelope]);
 *     break;
 *   } catch (error) {
 *     if (!isTransientLedgerError(error) || attempt === 5) throw error;
 *     await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
 *   }
 * }
 * ```
 */
export function isTransientLedgerError(error: unknown): boolean {
  return isSinkproofError(error) && RETRYABLE.has(error.code);
}

/**
 * A ledger found damaged data: never skipped, never returned, never delivered. `file` and
 * `offset` say where in a file; the SQL ledgers name the database in `file`, the table in
 * `table`, and the entry (or the receipt's entry, or the watermark) in `position`.
 *
 * @example
 * ```ts
 * import { CorruptionError, FileLedger } from "sinkproof";
 * try {
 *   await FileLedger.open("./ledger");
 * } catch (error) {
 *   if (error instanceof CorruptionError) console.error(error.file, error.table, error.offset, error.position);
 * }
 * ```
 */
export class CorruptionError extends SinkproofError<"corruption"> {
  /**
   * The damaged file; for the SQL ledgers the database (SQLite: its file path; PostgreSQL:
   * `database "<name>"`); for a ledger without storage, its class name.
   */
  readonly file: string;
  /** Byte offset of the first damaged record in that file; 0 where storage has no offsets (the SQL ledgers). */
  readonly offset: number;
  /** The damaged table, for the SQL ledgers (PostgreSQL: schema-qualified); undefined otherwise. */
  readonly table: string | undefined;

  constructor(
    message: string,
    details: { file: string; offset: number; table?: string | undefined },
    context: SinkproofErrorContext = {},
  ) {
    super("corruption", message, context);
    this.file = details.file;
    this.offset = details.offset;
    this.table = details.table;
  }
}

/**
 * Another process (or another open ledger in this one) holds the ledger's directory for
 * writing, or its lock file names a holder that cannot be checked from here (another host
 * or pid namespace) or cannot be read. `pid` is the holder's process id, from the lock
 * file; `host` is set when the holder is on another host.
 *
 * @example
 * ```ts
 * import { FileLedger, LedgerLockedError } from "sinkproof";
 * await FileLedger.open("./ledger").catch((error) => {
 *   if (error instanceof LedgerLockedError) console.error(`held by pid ${error.pid}`);
 * });
 * ```
 */
export class LedgerLockedError extends SinkproofError<"ledger_locked"> {
  /** Process id of the holder; -1 when the lock file cannot be read. */
  readonly pid: number;
  /** Path of the lock file. */
  readonly lockFile: string;
  /** The holder's host name, when it is another host (whose processes cannot be checked from here). */
  readonly host: string | undefined;

  constructor(
    message: string,
    details: { pid: number; lockFile: string; host?: string | undefined },
  ) {
    super("ledger_locked", message);
    this.pid = details.pid;
    this.lockFile = details.lockFile;
    this.host = details.host;
  }
}

/**
 * A sink guard refused a delivery: the sink is frozen (`sink_frozen`), the envelope is not
 * in the ledger (`not_in_ledger`: nothing reaches a sink before it is durable), or it does
 * not match its ledger entry (`ledger_mismatch`). `sink` and `key` say which. A pipeline
 * refuses a publish past its `maxBacklog` with `onBacklog: "fail"` (`backlog_full`,
 * nothing appended) and every call after `close()` (`pipeline_closed`); a background
 * worker whose batch failed whole reports `sink_failing` in its backlog's `lastError`.
 *
 * @example
 * ```ts
 * import { DeliveryError } from "sinkproof";
 * try {
 *   await guard.deliver(envelope);
 * } catch (error) {
 *   if (error instanceof DeliveryError && error.code === "sink_frozen") console.warn(error.message);
 * }
 * ```
 */
export class DeliveryError extends SinkproofError<DeliveryErrorCode> {}

/**
 * A ready-made sink (`sinkproof/sinks/*`) could not do what it was asked: it is closed
 * (`sink_closed`), or its storage failed (`sink_storage_error`, the driver's or file
 * system's error as `cause`). Damage in what it stores is a {@link CorruptionError}.
 *
 * @example
 * ```ts
 * import { SinkError } from "sinkproof";
 * try {
 *   await archive.remove(key);
 * } catch (error) {
 *   if (error instanceof SinkError && error.code === "sink_closed") console.warn("reopen it first");
 * }
 * ```
 */
export class SinkError extends SinkproofError<SinkErrorCode> {}

/**
 * A payload did not pass its type's schema at emit time; nothing was written. `issues`
 * lists every problem, each with its path (from `$.payload`), code and message.
 *
 * @example
 * ```ts
 * import { PayloadValidationError } from "sinkproof";
 * await producer.emit("order.created", { total: -1 }, { schema: { name: "order", version: 1 } })
 *   .catch((error) => {
 *     if (error instanceof PayloadValidationError) console.log(error.issues);
 *   });
 * ```
 */
export class PayloadValidationError extends SinkproofError<"invalid_payload"> {
  /** Every problem found. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], context: SinkproofErrorContext = {}) {
    super(
      "invalid_payload",
      `Invalid payload: ${issuesText(issues)}`,
      issuesContext(issues, context),
    );
    this.issues = Object.freeze([...issues]);
  }
}

/** One breaking change a {@link SchemaCompatibilityError} lists (see `SchemaChange`). */
export interface SchemaChangeLike {
  /** What kind of change, e.g. `required-field-added`. */
  readonly kind: string;
  /** Where in the payload, e.g. `$.customer.email`. */
  readonly path: string;
  /** What changed. */
  readonly message: string;
  /** The earlier version compared with. */
  readonly against: number;
  /** `backward` or `forward`. */
  readonly direction: string;
}

/**
 * A schema version breaks its schema's compatibility mode; nothing was registered.
 * `changes` lists every breaking change with its path and kind.
 *
 * @example
 * ```ts
 * import { SchemaCompatibilityError } from "sinkproof";
 * try {
 *   registry.register({ name: "order", version: 2, schema: z.object({ orderId: z.number() }) });
 * } catch (error) {
 *   if (error instanceof SchemaCompatibilityError) {
 *     for (const c of error.changes) console.log(c.kind, c.path, c.message); // type-changed $.orderId …
 *   }
 * }
 * ```
 */
export class SchemaCompatibilityError<
  Change extends SchemaChangeLike = SchemaChangeLike,
> extends SinkproofError<"incompatible_schema"> {
  /**
   * The schema's name (`SchemaRegistration.name`; the field is not called `name`, which
   * every error already has: its class name).
   */
  readonly type: string;
  /** The version that was refused. */
  readonly version: number;
  /** The compatibility mode it was checked under. */
  readonly mode: string;
  /** Every breaking change found. */
  readonly changes: readonly Change[];

  constructor(type: string, version: number, mode: string, changes: readonly Change[]) {
    const first = changes[0];
    const more = changes.length > 1 ? ` (and ${changes.length - 1} more)` : "";
    super(
      "incompatible_schema",
      `Version ${version} of "${type}" is not ${mode} compatible: ${first === undefined ? "" : `${first.kind} at ${first.path}: ${first.message}`}${more}`,
      { path: first?.path },
    );
    this.type = type;
    this.version = version;
    this.mode = mode;
    this.changes = Object.freeze([...changes]);
  }
}

/**
 * A schema registry cannot do what was asked: the schema or version is unknown
 * (`unknown_schema`), an upcast would go down (`downcast`), a step of an upcast chain is
 * missing (`upcast_gap`, the message names it), an upcaster threw (`upcast_failed`) or
 * made a payload its target version rejects (`upcast_invalid`, with `issues`).
 *
 * @example
 * ```ts
 * import { SchemaRegistryError } from "sinkproof";
 * try {
 *   registry.upcast(envelope, 3);
 * } catch (error) {
 *   if (error instanceof SchemaRegistryError && error.code === "upcast_gap") console.log(error.message);
 * }
 * ```
 */
export class SchemaRegistryError extends SinkproofError<SchemaRegistryErrorCode> {
  /** For `upcast_invalid`: every issue of the upcast payload under the target schema. */
  readonly issues: readonly ValidationIssue[];

  constructor(
    code: SchemaRegistryErrorCode,
    message: string,
    context: SinkproofErrorContext = {},
    issues: readonly ValidationIssue[] = [],
  ) {
    super(code, message, context);
    this.issues = Object.freeze([...issues]);
  }
}

/**
 * A JSON document is not a valid CloudEvents 1.0 event in structured JSON mode. `issues`
 * lists every rule it breaks, each with the attribute's path.
 *
 * @example
 * ```ts
 * import { CloudEventError, fromCloudEvent } from "sinkproof";
 * try {
 *   fromCloudEvent({ specversion: "0.3", id: "1", source: "/s", type: "t" });
 * } catch (error) {
 *   if (error instanceof CloudEventError) console.log(error.issues); // [{ path: "$.specversion", … }]
 * }
 * ```
 */
export class CloudEventError extends SinkproofError<"invalid_cloudevent"> {
  /** Every problem found, in document order. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], context: SinkproofErrorContext = {}) {
    super(
      "invalid_cloudevent",
      `Invalid CloudEvent: ${issuesText(issues)}`,
      issuesContext(issues, context),
    );
    this.issues = Object.freeze([...issues]);
  }
}
