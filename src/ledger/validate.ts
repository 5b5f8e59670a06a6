/**
 * Argument rules of the ledger, checked once in `BaseLedger` so that adapters never see
 * bad input: names, keys, positions, receipts, audit records, scan queries.
 *
 * @module
 */

import { z } from "zod";
import { canonicalBytes, decodeUtf8 } from "../canonical/canonicalize.js";
import { formatPath } from "../canonical/path.js";
import { isChecksum } from "../checksum/checksum.js";
import { isId } from "../envelope/ids.js";
import {
  ENVELOPE_LIMITS,
  isCleanText,
  isEnvelopeTime,
  isProducerName,
  type JsonValue,
} from "../envelope/schema.js";
import { CanonicalizationError } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { checkInteger, optionalInteger } from "../internal/checks.js";
import {
  CODE_LIMIT,
  MESSAGE_LIMIT,
  NAME_LIMIT,
  OFFSET_LIMIT,
  OWNER_LIMIT,
  PATH_LIMIT,
} from "../internal/limits.js";
import { optionKeys, readArray, readOptions } from "../internal/options.js";
import {
  type AuditInput,
  FINAL_RECEIPT_STATUSES,
  type PositionRange,
  RECEIPT_STATUSES,
  type Receipt,
  type ScanQuery,
} from "./types.js";

/** Longest sink name. */
export const MAX_SINK_NAME: number = NAME_LIMIT;
/** Longest claim owner. */
export const MAX_OWNER: number = OWNER_LIMIT;
/** Longest claim, in ms: 24 hours. */
export const MAX_TTL_MS: number = 24 * 60 * 60 * 1000;
/** Most sequence numbers reserved in one call. */
export const MAX_RESERVATION = 1_000_000;
/** Most envelopes in one append. */
export const MAX_BATCH = 100_000;

const FINAL_STATUSES: ReadonlySet<string> = new Set(FINAL_RECEIPT_STATUSES);

/**
 * True for the statuses after which a key is done at a sink: every status but `failed`
 * and `superseded` (which may be delivered again).
 */
export function isFinalStatus(status: string): boolean {
  return FINAL_STATUSES.has(status);
}

export function checkName(value: unknown, where: string, max: number = MAX_SINK_NAME): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > max ||
    !isCleanText(value)
  ) {
    invalidArgument(
      where,
      `must be 1 to ${max} characters without control characters, noncharacters or lone surrogates, got ${describe(value)}`,
    );
  }
  return value;
}

export function checkProducer(value: unknown, where: string): string {
  checkName(value, where, ENVELOPE_LIMITS.producer);
  if (!isProducerName(value as string)) invalidArgument(where, "must not contain '/'");
  return value as string;
}

export function checkKey(value: unknown, where = "key"): string {
  return checkName(value, where, ENVELOPE_LIMITS.key);
}

export function checkId(value: unknown, where = "id"): string {
  if (!isId(value)) invalidArgument(where, `must be a ULID in upper case, got ${describe(value)}`);
  return value as string;
}

const SCAN_KEYS = optionKeys<ScanQuery>()("from", "to", "producer", "stream", "limit");
const RANGE_KEYS = optionKeys<PositionRange>()("from", "to");

/** A scan query with defaults filled in (`to` is resolved later, against the head). */
export interface ResolvedScan {
  readonly from: number;
  readonly to: number | undefined;
  readonly producer: string | undefined;
  readonly stream: string | undefined;
  readonly limit: number;
}

export function checkScanQuery(query: ScanQuery | undefined): ResolvedScan {
  const q = readOptions<ScanQuery>(query, "query", SCAN_KEYS);
  const { from, to } = checkedBounds(q, "query");
  const producer =
    q.producer === undefined ? undefined : checkProducer(q.producer, "query.producer");
  const stream =
    q.stream === undefined
      ? undefined
      : checkName(q.stream, "query.stream", ENVELOPE_LIMITS.stream);
  const limit = optionalInteger(
    q.limit,
    "query.limit",
    0,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
  );
  return { from, to, producer, stream, limit };
}

/** A range's ends, checked: `from` at least 1 (default 1), `to` a count or `undefined`. */
function checkedBounds(
  range: PositionRange,
  where: string,
): { from: number; to: number | undefined } {
  return {
    from: optionalInteger(range.from, `${where}.from`, 1, Number.MAX_SAFE_INTEGER, 1),
    to:
      range.to === undefined
        ? undefined
        : checkInteger(range.to, `${where}.to`, 0, Number.MAX_SAFE_INTEGER),
  };
}

export function checkRange(range: PositionRange | undefined): {
  from: number;
  to: number | undefined;
} {
  return checkedBounds(readOptions<PositionRange>(range, "range", RANGE_KEYS), "range");
}

const text = (max: number) =>
  z.string().min(1).max(max).refine(isCleanText, {
    message: "must not hold control characters, noncharacters or lone surrogates",
  });
const isoTime = z
  .string()
  .refine(isEnvelopeTime, { message: "must be ISO-8601 UTC with milliseconds" });

const issueSchema = z.strictObject({
  path: z.string().max(PATH_LIMIT),
  code: z.string().min(1).max(CODE_LIMIT),
  message: z.string().max(MESSAGE_LIMIT),
});

/** The receipt's rules for explaining a refusal; `isValidReceipt` is the hot-path twin. */
export const receiptSchema: z.ZodType = z.strictObject({
  sink: text(MAX_SINK_NAME),
  key: text(ENVELOPE_LIMITS.key),
  id: z.string().refine(isId, { message: "must be a ULID in upper case" }),
  position: z.int().min(1),
  status: z.enum(RECEIPT_STATUSES),
  checksum: z.string().refine(isChecksum, { message: "must be a checksum" }),
  attempt: z.int().min(1).max(1_000_000),
  startedAt: isoTime,
  finishedAt: isoTime,
  sinkOffset: z.string().max(OFFSET_LIMIT).optional(),
  error: z
    .strictObject({ code: text(CODE_LIMIT), message: z.string().max(MESSAGE_LIMIT) })
    .optional(),
  issues: z.array(issueSchema).max(100).optional(),
  fencingToken: z.int().min(1).optional(),
  signature: z
    .strictObject({
      keyId: text(NAME_LIMIT),
      algorithm: z.literal("HMAC-SHA256"),
      value: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .optional(),
});

/** A reason (an audit record's, a freeze's): 1 to 4096 characters, well formed. */
const reasonText = z
  .string()
  .min(1)
  .max(MESSAGE_LIMIT)
  .refine((s) => s.isWellFormed(), { message: "must not hold lone surrogates" });

const checksumOrNull = z
  .union([z.string().refine(isChecksum, { message: "must be a checksum" }), z.null()])
  .optional();

const auditInputSchema = z.strictObject({
  actor: text(OWNER_LIMIT),
  action: text(CODE_LIMIT),
  reason: reasonText,
  subject: z
    .strictObject({
      sink: text(MAX_SINK_NAME).optional(),
      key: text(ENVELOPE_LIMITS.key).optional(),
      position: z.int().min(1).optional(),
    })
    .optional(),
  before: checksumOrNull,
  after: checksumOrNull,
  details: z.unknown().optional(),
  phase: z.enum(["intent", "outcome"]).optional(),
  intent: z.int().min(1).optional(),
});

/** Longest freeze origin. */
export const MAX_ORIGIN = 64;

const freezeInputSchema = z.strictObject({
  reason: reasonText,
  actor: text(OWNER_LIMIT),
  origin: text(MAX_ORIGIN).optional(),
});

const FREEZE_INPUT_KEYS = ["reason", "actor", "origin"] as const;

/**
 * An input object read once (`keys` only: another key is an unknown option) and parsed by
 * `schema`, inside the guard that turns a throwing getter into a typed error at `where`.
 */
function readInput<T>(
  input: unknown,
  where: string,
  keys: readonly string[],
  schema: z.ZodType<T>,
): T {
  const read = readOptions<Record<string, unknown>>(input, where, keys, { required: true });
  // zod reads the values again to word its issues: both inside the guard.
  return reading(where, () => {
    const parsed = schema.safeParse(read);
    if (!parsed.success) zodToArgument(where, parsed.error.issues);
    return parsed.data as T;
  });
}

/** A `freezeSink` or `unfreezeSink` input checked (`origin` resolved for a freeze). */
export function checkFreezeInput(
  input: unknown,
  where: string,
): {
  reason: string;
  actor: string;
  origin: string | undefined;
} {
  const { reason, actor, origin } = readInput(input, where, FREEZE_INPUT_KEYS, freezeInputSchema);
  return { reason, actor, origin };
}

const compactInputSchema = z.strictObject({
  actor: text(OWNER_LIMIT),
  reason: reasonText,
  through: z.int().min(0).optional(),
});

const COMPACT_INPUT_KEYS = ["actor", "reason", "through"] as const;

/** A `compactReceipts` input checked. */
export function checkCompactInput(
  input: unknown,
  where: string,
): { actor: string; reason: string; through: number | undefined } {
  const { actor, reason, through } = readInput(
    input,
    where,
    COMPACT_INPUT_KEYS,
    compactInputSchema,
  );
  // `+ 0` makes a -0 (which z.int() takes) the 0 it means, in the result and the audit record.
  return { actor, reason, through: through === undefined ? undefined : through + 0 };
}

function zodToArgument(where: string, issues: readonly z.core.$ZodIssue[]): never {
  const first = issues[0];
  const path = `${where}${formatPath(first?.path ?? []).slice(1)}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  return invalidArgument(path, `${first?.message ?? "is invalid"}${more}`);
}

const RECEIPT_KEYS = new Set([
  "sink",
  "key",
  "id",
  "position",
  "status",
  "checksum",
  "attempt",
  "startedAt",
  "finishedAt",
  "sinkOffset",
  "error",
  "issues",
  "fencingToken",
  "signature",
]);
const STATUS_SET: ReadonlySet<string> = new Set(RECEIPT_STATUSES);
const HEX64 = /^[0-9a-f]{64}$/;

function isShortText(value: unknown, max: number): value is string {
  return (
    typeof value === "string" && value.length >= 1 && value.length <= max && isCleanText(value)
  );
}

/** An ISO time (isEnvelopeTime keeps the last two that checked out: no parse for those). */
function isTime(value: unknown): boolean {
  return typeof value === "string" && isEnvelopeTime(value);
}

/** A fencing token: a positive safe integer. */
export function isFencingToken(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return false; // a revoked Proxy
  }
}

/** The hot-path check of a receipt: accepts exactly what `receiptSchema` accepts. */
export function isValidReceipt(r: unknown): r is Receipt {
  if (!isPlainRecord(r)) return false;
  for (const key of Object.keys(r)) if (!RECEIPT_KEYS.has(key)) return false;
  const { position, attempt, sinkOffset, error, issues, signature, fencingToken } = r;
  if (
    !isShortText(r.sink, MAX_SINK_NAME) ||
    !isShortText(r.key, ENVELOPE_LIMITS.key) ||
    !isId(r.id) ||
    typeof position !== "number" ||
    !Number.isSafeInteger(position) ||
    position < 1 ||
    typeof r.status !== "string" ||
    !STATUS_SET.has(r.status) ||
    !isChecksum(r.checksum) ||
    typeof attempt !== "number" ||
    !Number.isSafeInteger(attempt) ||
    attempt < 1 ||
    attempt > 1_000_000 ||
    !isTime(r.startedAt) ||
    !isTime(r.finishedAt)
  ) {
    return false;
  }
  if (
    sinkOffset !== undefined &&
    (typeof sinkOffset !== "string" || sinkOffset.length > OFFSET_LIMIT)
  )
    return false;
  if (fencingToken !== undefined && !isFencingToken(fencingToken)) return false;
  if (error !== undefined) {
    if (!isPlainRecord(error) || Object.keys(error).length !== 2) return false;
    if (
      !isShortText(error.code, CODE_LIMIT) ||
      typeof error.message !== "string" ||
      error.message.length > MESSAGE_LIMIT
    ) {
      return false;
    }
  }
  if (issues !== undefined) {
    if (!Array.isArray(issues) || issues.length > 100) return false;
    for (const issue of issues) {
      if (!isPlainRecord(issue) || Object.keys(issue).length !== 3) return false;
      const { path, code, message } = issue;
      if (typeof path !== "string" || path.length > PATH_LIMIT) return false;
      if (typeof code !== "string" || code.length < 1 || code.length > CODE_LIMIT) return false;
      if (typeof message !== "string" || message.length > MESSAGE_LIMIT) return false;
    }
  }
  if (signature !== undefined) {
    if (!isPlainRecord(signature) || Object.keys(signature).length !== 3) return false;
    if (!isShortText(signature.keyId, NAME_LIMIT) || signature.algorithm !== "HMAC-SHA256")
      return false;
    if (typeof signature.value !== "string" || !HEX64.test(signature.value)) return false;
  }
  return true;
}

const RECEIPT_KEY_LIST = [...RECEIPT_KEYS] as (keyof Receipt & string)[];
const ERROR_KEYS = ["code", "message"] as const;
const ISSUE_KEYS = ["path", "code", "message"] as const;
const SIGNATURE_KEYS = ["keyId", "algorithm", "value"] as const;

/**
 * `input` read once by {@link readOptions} (required, unknown keys refused), and each field
 * named in `parts` that holds a plain object read the same way by its own keys (anything
 * else is left for the schema to refuse).
 */
function readWithParts<T extends object>(
  input: unknown,
  path: string,
  keys: readonly (keyof T & string)[],
  what: string,
  parts: Readonly<Record<string, readonly string[]>>,
): Record<string, unknown> {
  const read: Record<string, unknown> = readOptions<T>(input, path, keys, { required: true, what });
  for (const [field, fieldKeys] of Object.entries(parts)) {
    const value = read[field];
    if (isPlainRecord(value))
      read[field] = readOptions<Record<string, unknown>>(value, `${path}.${field}`, fieldKeys, {
        what,
      });
  }
  return read;
}

/**
 * A receipt given as an argument, read once into plain objects (a getter or Proxy trap
 * that throws is an `InvalidArgumentError`; an unknown field is refused by name), so what
 * is checked is what is stored.
 */
export function snapshotReceipt(receipt: unknown): Record<string, unknown> {
  const what = "a receipt field";
  const r = readWithParts<Receipt>(receipt, "receipt", RECEIPT_KEY_LIST, what, {
    error: ERROR_KEYS,
    signature: SIGNATURE_KEYS,
  });
  if (r.issues !== undefined) {
    r.issues = readArray(r.issues, "receipt.issues", 100).map((issue, i) =>
      isPlainRecord(issue)
        ? readOptions(issue, `receipt.issues[${i}]`, ISSUE_KEYS, { what })
        : issue,
    );
  }
  return r;
}

/** A receipt checked and copied into a frozen object. */
export function checkReceipt(input: unknown): Receipt {
  if (isCheckedReceipt(input)) return input;
  return reading("receipt", () => checkReceiptReading(input));
}

function checkReceiptReading(input: unknown): Receipt {
  const receipt = snapshotReceipt(input);
  if (!isValidReceipt(receipt)) {
    const result = receiptSchema.safeParse(receipt);
    if (!result.success) zodToArgument("receipt", result.error.issues);
    invalidArgument("receipt", "is not a receipt");
  }
  return copyReceipt(receipt);
}

/**
 * Receipts this process made with {@link copyReceipt}: frozen all the way down and valid,
 * so an in-memory adapter that hands one back is not checked and copied again.
 */
const CHECKED_RECEIPTS = new WeakSet<object>();

/** True for a receipt {@link copyReceipt} made (frozen, valid): it needs no check. */
export function isCheckedReceipt(value: unknown): value is Receipt {
  return typeof value === "object" && value !== null && CHECKED_RECEIPTS.has(value);
}

/**
 * A receipt its maker just built as a plain object and owns (a guard's, from the ledger's
 * verified envelope and its own clock), frozen. When valid it is also marked checked, so
 * the ledger takes it without reading and copying it again (one with nested parts is
 * copied, frozen all the way down); an invalid one is only frozen, for the ledger to
 * refuse with the reason.
 */
export function adoptReceipt(r: Receipt): Receipt {
  if (!isValidReceipt(r)) return Object.freeze(r);
  if (r.error !== undefined || r.issues !== undefined || r.signature !== undefined) {
    return copyReceipt(r);
  }
  const frozen = Object.freeze(r);
  CHECKED_RECEIPTS.add(frozen);
  return frozen;
}

/** A valid receipt (see `isValidReceipt`) copied into frozen plain objects. */
export function copyReceipt(r: Receipt): Receipt {
  const out: Receipt = {
    sink: r.sink,
    key: r.key,
    id: r.id,
    position: r.position,
    status: r.status,
    checksum: r.checksum,
    attempt: r.attempt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    ...(r.sinkOffset === undefined ? {} : { sinkOffset: r.sinkOffset }),
    ...(r.error === undefined
      ? {}
      : { error: Object.freeze({ code: r.error.code, message: r.error.message }) }),
    ...(r.issues === undefined
      ? {}
      : {
          issues: Object.freeze(
            r.issues.map((i) => Object.freeze({ path: i.path, code: i.code, message: i.message })),
          ),
        }),
    ...(r.fencingToken === undefined ? {} : { fencingToken: r.fencingToken }),
    ...(r.signature === undefined
      ? {}
      : {
          signature: Object.freeze({
            keyId: r.signature.keyId,
            algorithm: r.signature.algorithm,
            value: r.signature.value,
          }),
        }),
  };
  const frozen = Object.freeze(out);
  CHECKED_RECEIPTS.add(frozen);
  return frozen;
}

const AUDIT_INPUT_KEYS = optionKeys<AuditInput>()(
  "actor",
  "action",
  "reason",
  "subject",
  "before",
  "after",
  "details",
  "phase",
  "intent",
);
const SUBJECT_KEYS = ["sink", "key", "position"] as const;

const DETAILS_LIMITS = { maxDepth: 32, maxBytes: 64 * 1024 };

/**
 * An audit input checked; `details` must be JSON of at most 64 KiB. An outcome
 * (`phase: "outcome"`) must name its intent record (`intent`), and only an outcome may;
 * that the intent exists, is earlier and is not settled yet depends on the log, so the
 * ledger checks it when it appends (see `AuditIntents`).
 */
export function checkAuditInput(input: unknown): AuditInput {
  const read = readWithParts<AuditInput>(input, "input", AUDIT_INPUT_KEYS, "an audit input field", {
    subject: SUBJECT_KEYS,
  });
  const result = reading("input", () => {
    const parsed = auditInputSchema.safeParse(read);
    if (!parsed.success) zodToArgument("input", parsed.error.issues);
    return parsed;
  });
  const data = result.data as AuditInput;
  if (data.phase === "outcome" && data.intent === undefined)
    invalidArgument("input.intent", "is required on an outcome: the index of its intent record");
  if (data.intent !== undefined && data.phase !== "outcome")
    invalidArgument("input.intent", 'is only for an outcome (phase: "outcome")');
  if (data.details === undefined) return data;
  // Stored as its JSON form (a copy), so the record is the same after a restart.
  let details: JsonValue;
  try {
    details = JSON.parse(
      decodeUtf8(canonicalBytes(data.details, DETAILS_LIMITS).bytes),
    ) as JsonValue;
  } catch (error) {
    if (error instanceof CanonicalizationError) {
      invalidArgument(`input.details${error.path?.slice(1) ?? ""}`, error.message, error);
    }
    throw error;
  }
  return { ...data, details };
}
