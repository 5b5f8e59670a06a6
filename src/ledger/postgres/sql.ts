/**
 * The SQL text of `PostgresLedger`: its tables by schema, the statements it prepares
 * (each under a name unique to the schema), how every transaction begins, and what open
 * asks of the server. The schema's DDL is in migrations.ts.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The server's clock in ms since the epoch: claim expiry follows it. */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/**
 * How every ledger transaction starts: READ COMMITTED (the ledger's reasoning about locks
 * and snapshots needs it), and `synchronous_commit` raised to on where a session has it
 * off (other values are at least as strong for the primary and are kept).
 */
export const BEGIN =
  "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'";

/**
 * What open reads before it trusts the server: the durability settings, the advisory lock
 * ids of the schema (`$1` append, `$2` audit, `$3` migrate), the session's default
 * isolation and the database's name.
 */
export const SETTINGS =
  "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync, hashtext($1) AS append_lock, hashtext($2) AS audit_lock, hashtext($3) AS migrate_lock, current_setting('default_transaction_isolation') AS isolation, current_database() AS database";

/** The ledger's tables of one schema, each quoted and qualified by the schema. */
export interface Tables {
  /** The schema itself, quoted. */
  readonly schema: string;
  readonly entries: string;
  readonly sequences: string;
  readonly receipts: string;
  readonly watermarks: string;
  readonly claims: string;
  readonly freezes: string;
  readonly checkpoints: string;
  readonly windows: string;
  readonly audit: string;
  /** `sinkproof_meta`: the schema version. */
  readonly meta: string;
}

/** The ledger's tables, quoted, in the schema `schema`. */
export function tables(schema: string): Tables {
  const s = `"${schema}"`;
  return {
    schema: s,
    entries: `${s}.sinkproof_entries`,
    sequences: `${s}.sinkproof_sequences`,
    receipts: `${s}.sinkproof_receipts`,
    watermarks: `${s}.sinkproof_watermarks`,
    claims: `${s}.sinkproof_claims`,
    freezes: `${s}.sinkproof_freezes`,
    checkpoints: `${s}.sinkproof_checkpoints`,
    windows: `${s}.sinkproof_windows`,
    audit: `${s}.sinkproof_audit`,
    meta: `${s}.sinkproof_meta`,
  };
}

/** A statement, prepared once per connection under its name. */
export interface NamedStatement {
  /** The name it is prepared under: `sp_<schema hash>_<statement>`. */
  readonly name: string;
  /** Its SQL text. */
  readonly text: string;
}

/** The names of the ledger's statements. */
type StatementName =
  | "lookup"
  | "head"
  | "insert"
  | "insertFresh"
  | "byKey"
  | "byId"
  | "scan"
  | "scanProducer"
  | "scanStream"
  | "scanBoth"
  | "reserve"
  | "putReceipt"
  | "putReceipts"
  | "byKeys"
  | "receiptsOfKeys"
  | "takeClaims"
  | "lastFinals"
  | "currentClaims"
  | "releaseMany"
  | "receipts"
  | "scanReceipts"
  | "watermark"
  | "advanceWatermark"
  | "putFencedReceipt"
  | "takeClaim"
  | "lastFinal"
  | "currentClaim"
  | "renew"
  | "release"
  | "freezeOf"
  | "putFreeze"
  | "checkpoint"
  | "putCheckpoint"
  | "insertCheckpoint"
  | "swapCheckpoint"
  | "insertWindows"
  | "trimWindows"
  | "windows"
  | "digestBuckets"
  | "digestPositions"
  | "deleteFreeze"
  | "freezes"
  | "allFreezes"
  | "lastAudit"
  | "insertAudit"
  | "deleteCompacted"
  | "scanAudit";

/** The ledger's statements of one schema, by name (see {@link statements}). */
export type Statements = Readonly<Record<StatementName, NamedStatement>>;

type Named = (name: string, text: string) => NamedStatement;

/**
 * The ledger's statements, each prepared once per connection under a name:
 * `sp_<12 hex of the schema's SHA-256>_<statement>`, so that ledgers of two schemas on one
 * pool never share a name (`x` + `scan_receipts` and `x_scan` + `receipts` would), and
 * every name stays under PostgreSQL's 63 bytes (longer ones are cut, and can then clash).
 */
export function statements(schema: string, t: Tables): Statements {
  const prefix = `sp_${createHash("sha256").update(schema).digest("hex").slice(0, 12)}_`;
  const named = (name: string, text: string) => ({ name: `${prefix}${name}`, text });
  return {
    ...entryStatements(t, named),
    ...receiptStatements(t, named),
    ...claimStatements(t, named),
    ...freezeAndAuditStatements(t, named),
  };
}

/** The statements of entries and of producers' sequences. */
function entryStatements(t: Tables, named: Named) {
  const entryColumns = `SELECT position, appended_at, envelope, entry_hash, key, id, producer, stream, checksum FROM ${t.entries}`;
  return {
    lookup: named("lookup", `${entryColumns} WHERE key = ANY($1::text[]) OR id = ANY($2::text[])`),
    head: named("head", `SELECT coalesce(max(position), 0) AS head FROM ${t.entries}`),
    insert: named(
      "insert",
      `INSERT INTO ${t.entries} (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash, row_hash, row_hi, row_lo) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[])`,
    ),
    insertFresh: named(
      "insert_fresh",
      `INSERT INTO ${t.entries} (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash, row_hash, row_hi, row_lo) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[]) ON CONFLICT DO NOTHING`,
    ),
    byKey: named("by_key", `${entryColumns} WHERE key = $1`),
    byKeys: named("by_keys", `${entryColumns} WHERE key = ANY($1::text[])`),
    byId: named("by_id", `${entryColumns} WHERE id = $1`),
    scan: named(
      "scan",
      `${entryColumns} WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3`,
    ),
    scanProducer: named(
      "scan_p",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND producer = $3 ORDER BY position LIMIT $4`,
    ),
    scanStream: named(
      "scan_s",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND stream = $3 ORDER BY position LIMIT $4`,
    ),
    scanBoth: named(
      "scan_ps",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND producer = $3 AND stream = $4 ORDER BY position LIMIT $5`,
    ),
    reserve: named(
      "reserve",
      `INSERT INTO ${t.sequences} AS s (producer, next) VALUES ($1, $2) ON CONFLICT (producer) DO UPDATE SET next = s.next + excluded.next RETURNING next`,
    ),
  };
}

/** The statements of receipts and watermarks. */
function receiptStatements(t: Tables, named: Named) {
  return {
    putReceipt: named(
      "put_receipt",
      `INSERT INTO ${t.receipts} (sink, key, position, final, receipt) VALUES ($1, $2, $3, $4, $5)`,
    ),
    receipts: named(
      "receipts",
      `SELECT receipt FROM ${t.receipts} WHERE sink = $1 AND key = $2 ORDER BY seq`,
    ),
    receiptsOfKeys: named(
      "receipts_of_keys",
      `SELECT key, receipt FROM ${t.receipts} WHERE sink = $1 AND key = ANY($2::text[]) ORDER BY seq`,
    ),
    scanReceipts: named(
      "scan_receipts",
      `SELECT seq, position, receipt FROM ${t.receipts} WHERE sink = $1 AND (position, seq) > ($2, $3) AND position <= $4 ORDER BY position, seq LIMIT $5`,
    ),
    watermark: named("watermark", `SELECT position FROM ${t.watermarks} WHERE sink = $1`),
    advanceWatermark: named(
      "advance_watermark",
      `INSERT INTO ${t.watermarks} AS w (sink, position) VALUES ($1, $2) ON CONFLICT (sink) DO UPDATE SET position = GREATEST(w.position, excluded.position) RETURNING position`,
    ),
    putFencedReceipt: named(
      "put_fenced_receipt",
      `WITH c AS (SELECT fencing_token, released FROM ${t.claims} WHERE sink = $1 AND key = $2 FOR SHARE) INSERT INTO ${t.receipts} (sink, key, position, final, receipt) SELECT $1, $2, $3, true, $4 WHERE EXISTS (SELECT 1 FROM c WHERE c.fencing_token = $5::bigint AND NOT c.released)`,
    ),
    // Many receipts in one statement, in the order given (the identity follows the ORDER BY).
    // The claims of fenced finals are share-locked, as by put_fenced_receipt; the answer is
    // the ordinal of each final receipt refused because its fencing token is not that of the
    // key's claim held now (a data-modifying CTE runs to completion whether or not it is read).
    putReceipts: named(
      "put_receipts",
      `WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[], $5::text[], $6::bigint[]) WITH ORDINALITY AS i(sink, key, position, final, receipt, token, ord)), locked AS (SELECT c.sink, c.key, c.fencing_token, c.released FROM ${t.claims} c WHERE (c.sink, c.key) IN (SELECT sink, key FROM input WHERE final AND token IS NOT NULL) ORDER BY c.sink, c.key FOR SHARE), fenced AS (SELECT i.ord FROM input i LEFT JOIN locked l ON l.sink = i.sink AND l.key = i.key WHERE i.final AND i.token IS NOT NULL AND (l.fencing_token IS NULL OR l.fencing_token <> i.token OR l.released)), stored AS (INSERT INTO ${t.receipts} (sink, key, position, final, receipt) SELECT sink, key, position, final, receipt FROM input WHERE ord NOT IN (SELECT ord FROM fenced) ORDER BY ord RETURNING 1) SELECT ord FROM fenced`,
    ),
    lastFinals: named(
      "last_finals",
      `SELECT DISTINCT ON (key) key, receipt FROM ${t.receipts} WHERE sink = $1 AND key = ANY($2::text[]) AND final ORDER BY key, seq DESC`,
    ),
    lastFinal: named(
      "last_final",
      `SELECT receipt FROM ${t.receipts} WHERE sink = $1 AND key = $2 AND final ORDER BY seq DESC LIMIT 1`,
    ),
  };
}

/** The statements of claims, their expiry by the server's clock. */
function claimStatements(t: Tables, named: Named) {
  return {
    // Claim rows are kept after release, so the key's last token is always there to grow from.
    takeClaim: named(
      "take_claim",
      `INSERT INTO ${t.claims} AS c (sink, key, owner, token, expires_at, fencing_token, released) VALUES ($1, $2, $3, $4, ${NOW_MS} + $5, 1, false) ON CONFLICT (sink, key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at, fencing_token = c.fencing_token + 1, released = false WHERE c.expires_at <= ${NOW_MS} OR c.released OR c.owner = $6::text RETURNING expires_at, fencing_token`,
    ),
    // Many keys of one sink in one statement, the rows locked in key order (no deadlock
    // between two batches of overlapping keys).
    takeClaims: named(
      "take_claims",
      `INSERT INTO ${t.claims} AS c (sink, key, owner, token, expires_at, fencing_token, released) SELECT $1, k.key, $2, k.token, ${NOW_MS} + $3, 1, false FROM unnest($4::text[], $5::text[]) AS k(key, token) ORDER BY k.key ON CONFLICT (sink, key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at, fencing_token = c.fencing_token + 1, released = false WHERE c.expires_at <= ${NOW_MS} OR c.released OR c.owner = $6::text RETURNING key, expires_at, fencing_token`,
    ),
    currentClaims: named(
      "current_claims",
      `SELECT key, owner, expires_at, released, expires_at <= ${NOW_MS} AS expired FROM ${t.claims} WHERE sink = $1 AND key = ANY($2::text[])`,
    ),
    // The claims locked in key order first (as take_claims locks them), then released.
    releaseMany: named(
      "release_many",
      `WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(sink, key, token, ord)), locked AS (SELECT c.sink, c.key FROM ${t.claims} c JOIN r ON c.sink = r.sink AND c.key = r.key AND c.token = r.token WHERE NOT c.released ORDER BY c.sink, c.key FOR UPDATE OF c) UPDATE ${t.claims} AS c SET released = true FROM r WHERE (c.sink, c.key) IN (SELECT sink, key FROM locked) AND c.sink = r.sink AND c.key = r.key AND c.token = r.token AND NOT c.released RETURNING r.ord`,
    ),
    currentClaim: named(
      "current_claim",
      `SELECT owner, expires_at, released, expires_at <= ${NOW_MS} AS expired FROM ${t.claims} WHERE sink = $1 AND key = $2`,
    ),
    renew: named(
      "renew",
      `UPDATE ${t.claims} SET expires_at = ${NOW_MS} + $1 WHERE sink = $2 AND key = $3 AND token = $4 AND NOT released`,
    ),
    release: named(
      "release",
      `UPDATE ${t.claims} SET released = true WHERE sink = $1 AND key = $2 AND token = $3 AND NOT released`,
    ),
  };
}

/** The statements of freezes and of the audit log. */
function freezeAndAuditStatements(t: Tables, named: Named) {
  return {
    freezeOf: named(
      "freeze_of",
      `SELECT state FROM ${t.freezes} WHERE sink = $1 AND origin = $2 FOR UPDATE`,
    ),
    putFreeze: named(
      "put_freeze",
      `INSERT INTO ${t.freezes} (sink, origin, audit, state) VALUES ($1, $2, $3, $4)`,
    ),
    deleteFreeze: named(
      "delete_freeze",
      `DELETE FROM ${t.freezes} WHERE sink = $1 AND origin = $2`,
    ),
    freezes: named("freezes", `SELECT state FROM ${t.freezes} WHERE sink = $1 ORDER BY audit`),
    allFreezes: named("all_freezes", `SELECT state FROM ${t.freezes} ORDER BY sink, audit`),
    checkpoint: named("checkpoint", `SELECT checkpoint FROM ${t.checkpoints} WHERE sink = $1`),
    putCheckpoint: named(
      "put_checkpoint",
      `INSERT INTO ${t.checkpoints} (sink, checkpoint) VALUES ($1, $2) ON CONFLICT (sink) DO UPDATE SET checkpoint = excluded.checkpoint`,
    ),
    // Compare-and-set: put only where the sink has none, or has exactly $3.
    insertCheckpoint: named(
      "insert_checkpoint",
      `INSERT INTO ${t.checkpoints} (sink, checkpoint) VALUES ($1, $2) ON CONFLICT (sink) DO NOTHING`,
    ),
    swapCheckpoint: named(
      "swap_checkpoint",
      `UPDATE ${t.checkpoints} SET checkpoint = $2 WHERE sink = $1 AND checkpoint = $3`,
    ),
    // Samples in the order given ($1 sinks, $2 samples as JSON text).
    insertWindows: named(
      "insert_windows",
      `INSERT INTO ${t.windows} (sink, sample) SELECT u.sink, u.sample FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(sink, sample, n) ORDER BY u.n`,
    ),
    // Every sample of the sinks $1 but each one's most recent $2.
    trimWindows: named(
      "trim_windows",
      `DELETE FROM ${t.windows} AS w USING (SELECT seq, row_number() OVER (PARTITION BY sink ORDER BY seq DESC) AS n FROM ${t.windows} WHERE sink = ANY($1::text[])) AS r WHERE w.seq = r.seq AND r.n > $2::bigint`,
    ),
    windows: named(
      "windows",
      `SELECT sample FROM (SELECT seq, sample FROM ${t.windows} WHERE sink = $1 ORDER BY seq DESC LIMIT $2::bigint) AS recent ORDER BY seq`,
    ),
    // Digest mode's ledger side: $1 from, $2 to, $3 bucket width, $4 through.
    digestBuckets: named(
      "digest_buckets",
      `SELECT (row_hash - $1::bigint) / $3::bigint AS bucket, count(*) AS count, (sum(row_hi) % 4294967296)::bigint AS hi, (sum(row_lo) % 4294967296)::bigint AS lo FROM ${t.entries} WHERE row_hash >= $1::bigint AND row_hash < $2::bigint AND position <= $4::bigint GROUP BY 1 ORDER BY 1`,
    ),
    digestPositions: named(
      "digest_positions",
      `SELECT position, key, checksum, row_hash, row_hi, row_lo FROM ${t.entries} WHERE row_hash >= $1::bigint AND row_hash < $2::bigint AND position <= $3::bigint ORDER BY position`,
    ),
    lastAudit: named("last_audit", `SELECT idx, hash FROM ${t.audit} ORDER BY idx DESC LIMIT 1`),
    insertAudit: named(
      "insert_audit",
      `INSERT INTO ${t.audit} (idx, hash, record) VALUES ($1, $2, $3)`,
    ),
    // Every receipt of the sink at or below the position but its key's last final one; a
    // key with no final receipt has no max, and `seq <> NULL` removes none of its receipts.
    deleteCompacted: named(
      "delete_compacted",
      `DELETE FROM ${t.receipts} AS r WHERE r.sink = $1 AND r.position <= $2 AND r.seq <> (SELECT max(f.seq) FROM ${t.receipts} AS f WHERE f.sink = r.sink AND f.key = r.key AND f.final)`,
    ),
    scanAudit: named(
      "scan_audit",
      `SELECT idx, record FROM ${t.audit} WHERE idx > $1 ORDER BY idx LIMIT $2`,
    ),
  };
}
