/**
 * The SQL of `SqliteLedger`: the text of every statement, prepared once at open, and the
 * transactions built of them that run several statements (a fenced receipt, a claim, a
 * freeze change, an audit append). The schema's DDL is in migrations.ts; the append
 * transaction is the ledger's own (it verifies what it finds in its way).
 *
 * @module
 */

import type { ClaimRequest, FreezeChange, FreezeChanged, ReceiptsCompacted } from "../base.js";
import { parseStoredJson } from "../read-checks.js";
import type { EntryRow } from "../sql-rows.js";
import type {
  AuditHead,
  AuditRecord,
  Claim,
  ClaimResult,
  Receipt,
  SinkFreeze,
  WindowSample,
} from "../types.js";
import { isFinalStatus } from "../validate.js";
import type { Database, Statement } from "./driver.js";

const ENTRY_COLUMNS =
  "SELECT position, appended_at, envelope, entry_hash, key, id, producer, stream, checksum FROM sinkproof_entries";

/** The names of the statements. */
type Name =
  | "lastFinal"
  | "currentClaim"
  | "claimState"
  | "putClaim"
  | "takeFencingTokens"
  | "insertReceipt"
  | "insertFencedReceipt"
  | "freezeOf"
  | "putFreeze"
  | "deleteFreeze"
  | "lastAudit"
  | "insertAudit"
  | "deleteCompacted"
  | "byKey"
  | "byId"
  | "head"
  | "insertEntry"
  | "scan"
  | "scanProducer"
  | "scanStream"
  | "scanBoth"
  | "reserve"
  | "receipts"
  | "scanReceipts"
  | "watermark"
  | "advanceWatermark"
  | "renew"
  | "release"
  | "freezes"
  | "allFreezes"
  | "scanAudit"
  | "checkpoint"
  | "putCheckpoint"
  | "insertWindow"
  | "trimWindows"
  | "windows"
  | "digestBuckets"
  | "digestPositions";

/** The statements' text by name, in the order they are prepared. */
const TEXTS: Readonly<Record<Name, string>> = {
  lastFinal:
    "SELECT receipt FROM sinkproof_receipts WHERE sink = ? AND key = ? AND final = 1 ORDER BY seq DESC LIMIT 1",
  currentClaim:
    "SELECT owner, token, expires_at, fencing_token, released FROM sinkproof_claims WHERE sink = ? AND key = ?",
  // The key's last final receipt and its claim, in one statement (a row even without a claim).
  claimState:
    "SELECT (SELECT receipt FROM sinkproof_receipts WHERE sink = @sink AND key = @key AND final = 1 ORDER BY seq DESC LIMIT 1) AS done, c.owner AS owner, c.token AS token, c.expires_at AS expires_at, c.fencing_token AS fencing_token, c.released AS released FROM (SELECT 1) LEFT JOIN sinkproof_claims AS c ON c.sink = @sink AND c.key = @key",
  putClaim:
    "INSERT INTO sinkproof_claims (sink, key, owner, token, expires_at, fencing_token, released) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (sink, key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at, fencing_token = excluded.fencing_token, released = 0",
  // `count` tokens at once, each above `floor` (every token the keys had) and the last given.
  takeFencingTokens:
    "UPDATE sinkproof_fencing SET last = max(last, ?) + ? WHERE id = 1 RETURNING last",
  insertReceipt:
    "INSERT INTO sinkproof_receipts (sink, key, position, final, receipt) VALUES (?, ?, ?, ?, ?)",
  // A final receipt under a fencing token: stored only while the key's claim with that
  // token is held (not released, not replaced), in the same statement.
  insertFencedReceipt:
    "INSERT INTO sinkproof_receipts (sink, key, position, final, receipt) SELECT @sink, @key, @position, 1, @receipt WHERE EXISTS (SELECT 1 FROM sinkproof_claims WHERE sink = @sink AND key = @key AND fencing_token = @token AND released = 0)",
  freezeOf: "SELECT state FROM sinkproof_freezes WHERE sink = ? AND origin = ?",
  checkpoint: "SELECT checkpoint FROM sinkproof_checkpoints WHERE sink = ?",
  putCheckpoint:
    "INSERT INTO sinkproof_checkpoints (sink, checkpoint) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET checkpoint = excluded.checkpoint",
  insertWindow: "INSERT INTO sinkproof_windows (sink, sample) VALUES (?, ?)",
  // Every sample of the sink but its most recent `keep` (the one `keep` places back and older).
  trimWindows:
    "DELETE FROM sinkproof_windows WHERE sink = @sink AND seq <= (SELECT seq FROM sinkproof_windows WHERE sink = @sink ORDER BY seq DESC LIMIT 1 OFFSET @keep)",
  windows:
    "SELECT sample FROM (SELECT seq, sample FROM sinkproof_windows WHERE sink = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
  putFreeze: "INSERT INTO sinkproof_freezes (sink, origin, audit, state) VALUES (?, ?, ?, ?)",
  deleteFreeze: "DELETE FROM sinkproof_freezes WHERE sink = ? AND origin = ?",
  lastAudit: "SELECT idx, hash FROM sinkproof_audit ORDER BY idx DESC LIMIT 1",
  insertAudit: "INSERT INTO sinkproof_audit (idx, hash, record) VALUES (?, ?, ?)",
  // Every receipt of the sink at or below the position but its key's last final one; a
  // key with no final receipt has no max, and `seq <> NULL` removes none of its receipts.
  deleteCompacted:
    "DELETE FROM sinkproof_receipts WHERE sink = ? AND position <= ? AND seq <> (SELECT max(f.seq) FROM sinkproof_receipts AS f WHERE f.sink = sinkproof_receipts.sink AND f.key = sinkproof_receipts.key AND f.final = 1)",
  byKey: `${ENTRY_COLUMNS} WHERE key = ?`,
  byId: `${ENTRY_COLUMNS} WHERE id = ?`,
  head: "SELECT coalesce(max(position), 0) AS head FROM sinkproof_entries",
  insertEntry:
    "INSERT INTO sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash, row_hash, row_hi, row_lo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
  scan: `${ENTRY_COLUMNS} WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?`,
  scanProducer: `${ENTRY_COLUMNS} WHERE position >= ? AND position <= ? AND producer = ? ORDER BY position LIMIT ?`,
  scanStream: `${ENTRY_COLUMNS} WHERE position >= ? AND position <= ? AND stream = ? ORDER BY position LIMIT ?`,
  scanBoth: `${ENTRY_COLUMNS} WHERE position >= ? AND position <= ? AND producer = ? AND stream = ? ORDER BY position LIMIT ?`,
  reserve:
    "INSERT INTO sinkproof_sequences (producer, next) VALUES (?, ?) ON CONFLICT (producer) DO UPDATE SET next = next + excluded.next RETURNING next",
  receipts: "SELECT receipt FROM sinkproof_receipts WHERE sink = ? AND key = ? ORDER BY seq",
  scanReceipts:
    "SELECT seq, position, receipt FROM sinkproof_receipts WHERE sink = ? AND (position > ? OR (position = ? AND seq > ?)) AND position <= ? ORDER BY position, seq LIMIT ?",
  watermark: "SELECT position FROM sinkproof_watermarks WHERE sink = ?",
  advanceWatermark:
    "INSERT INTO sinkproof_watermarks (sink, position) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET position = max(position, excluded.position) RETURNING position",
  renew:
    "UPDATE sinkproof_claims SET expires_at = ? WHERE sink = ? AND key = ? AND token = ? AND released = 0",
  release:
    "UPDATE sinkproof_claims SET released = 1 WHERE sink = ? AND key = ? AND token = ? AND released = 0",
  freezes: "SELECT state FROM sinkproof_freezes WHERE sink = ? ORDER BY audit",
  allFreezes: "SELECT state FROM sinkproof_freezes ORDER BY sink, audit",
  scanAudit: "SELECT idx, record FROM sinkproof_audit WHERE idx > ? ORDER BY idx LIMIT ?",
  // Digest mode's ledger side: ? = from, width, from, to, through (see _digestBuckets).
  // The driver binds numbers as REAL: the casts keep the division an integer one.
  digestBuckets:
    "SELECT (row_hash - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, count(*) AS count, sum(row_hi) % 4294967296 AS hi, sum(row_lo) % 4294967296 AS lo FROM sinkproof_entries WHERE row_hash >= ? AND row_hash < ? AND position <= ? GROUP BY 1 ORDER BY 1",
  digestPositions:
    "SELECT position, key, checksum, row_hash, row_hi, row_lo FROM sinkproof_entries WHERE row_hash >= ? AND row_hash < ? AND position <= ? ORDER BY position",
};

/** The prepared statements, by name. */
type Statements = { readonly [name in Name]: Statement };

/** Scans return rows as arrays (`raw`): no object per row to build. */
const RAW: ReadonlySet<Name> = new Set<Name>(["scan", "scanProducer", "scanStream", "scanBoth"]);

/** A better-sqlite3 transaction: call it, or `immediate` to begin with `BEGIN IMMEDIATE`. */
interface Transaction<A extends unknown[], R> {
  (...args: A): R;
  immediate(...args: A): R;
}

/** Makes an audit record from the last one. */
type MakeRecord = (previous: AuditHead | undefined) => AuditRecord;

/** Every statement, prepared, and the transactions of several statements built on them. */
export interface Prepared extends Statements {
  /** A receipt; a final one with a fencing token is refused unless its claim is held now. */
  readonly putReceipt: Transaction<[Receipt], boolean>;
  /** Many receipts in one transaction, in order, each as `putReceipt` stores it. */
  readonly putReceipts: Transaction<[readonly Receipt[]], boolean[]>;
  /** A claim taken, or found held or done. */
  readonly claim: Transaction<[ClaimRequest], ClaimResult>;
  /** Many claims in one transaction, each decided as `claim` decides it. */
  readonly claimMany: Transaction<[readonly ClaimRequest[]], ClaimResult[]>;
  /** The entry rows of many keys, read in one transaction. */
  readonly getMany: Transaction<[readonly string[]], (EntryRow | undefined)[]>;
  /** A checkpoint put only if the stored one's JSON text is `expected` (null: none). */
  readonly replaceCheckpoint: Transaction<[string, string, string | null], boolean>;
  /** The receipt rows of many keys of one sink, read in one transaction. */
  readonly receiptsMany: Transaction<[string, readonly string[]], { receipt: string }[][]>;
  /** Window samples appended in one transaction, each sink trimmed to its most recent `keep`. */
  readonly recordWindows: Transaction<[readonly WindowSample[], number], void>;
  /** Many claims released in one transaction. */
  readonly releaseMany: Transaction<[readonly Claim[]], boolean[]>;
  /** A freeze set or lifted, with its audit record. */
  readonly changeFreeze: Transaction<[FreezeChange, MakeRecord], FreezeChanged>;
  /** The next audit record appended. */
  readonly appendAudit: Transaction<[MakeRecord], AuditRecord>;
  /** A sink's receipts compacted up to a position, with the audit record of it. */
  readonly compactReceipts: Transaction<[string, number, MakeRecord], ReceiptsCompacted>;
}

/** Every statement prepared, and the transactions of several statements built on them. */
export function prepareAll(db: Database): Prepared {
  const prepared = {} as Record<Name, Statement>;
  for (const name of Object.keys(TEXTS) as Name[]) {
    const statement = db.prepare(TEXTS[name]);
    prepared[name] = RAW.has(name) ? statement.raw(true) : statement;
  }
  const s: Statements = prepared;
  return {
    ...s,
    putReceipt: db.transaction((receipt: Receipt) => putReceipt(s, receipt)),
    putReceipts: db.transaction((receipts: readonly Receipt[]) =>
      receipts.map((receipt) => putReceipt(s, receipt)),
    ),
    claim: db.transaction((request: ClaimRequest) => claimAll(s, [request])[0] as ClaimResult),
    claimMany: db.transaction((requests: readonly ClaimRequest[]) => claimAll(s, requests)),
    getMany: db.transaction((keys: readonly string[]) =>
      keys.map((key) => s.byKey.get(key) as EntryRow | undefined),
    ),
    replaceCheckpoint: db.transaction(
      (sink: string, json: string, expected: string | null): boolean => {
        const row = s.checkpoint.get(sink) as { checkpoint: string } | undefined;
        if ((row?.checkpoint ?? null) !== expected) return false;
        s.putCheckpoint.run(sink, json);
        return true;
      },
    ),
    receiptsMany: db.transaction((sink: string, keys: readonly string[]) =>
      keys.map((key) => s.receipts.all(sink, key) as { receipt: string }[]),
    ),
    releaseMany: db.transaction((claims: readonly Claim[]) =>
      claims.map((c) => s.release.run(c.sink, c.key, c.token).changes === 1),
    ),
    recordWindows: db.transaction((samples: readonly WindowSample[], keep: number) => {
      for (const sample of samples) s.insertWindow.run(sample.sink, JSON.stringify(sample));
      for (const sink of new Set(samples.map((sample) => sample.sink)))
        s.trimWindows.run({ sink, keep });
    }),
    changeFreeze: freezeTransaction(db, s),
    appendAudit: auditTransaction(db, s),
    compactReceipts: db.transaction(
      (sink: string, through: number, make: MakeRecord): ReceiptsCompacted => {
        const removed = s.deleteCompacted.run(sink, through).changes;
        return { removed, record: appendRecord(s, make) };
      },
    ),
  };
}

/**
 * A receipt; a final one with a fencing token is stored only under the key's claim held
 * now with that token (not taken over, not released). In a transaction.
 */
function putReceipt(s: Statements, receipt: Receipt): boolean {
  const final = isFinalStatus(receipt.status);
  const json = JSON.stringify(receipt);
  if (final && receipt.fencingToken !== undefined) {
    return (
      s.insertFencedReceipt.run({
        sink: receipt.sink,
        key: receipt.key,
        position: receipt.position,
        receipt: json,
        token: receipt.fencingToken,
      }).changes === 1
    );
  }
  s.insertReceipt.run(receipt.sink, receipt.key, receipt.position, final ? 1 : 0, json);
  return true;
}

/** A claim row as `claimState` and `currentClaim` read it (all null without a claim). */
interface ClaimRow {
  readonly done?: string | null;
  readonly owner: string | null;
  readonly token: string | null;
  readonly expires_at: number | null;
  readonly fencing_token: number | null;
  readonly released: number | null;
}

/**
 * Claims, each decided on its own: done if the key has a final receipt, held if live,
 * else taken. The keys taken get their fencing tokens in one statement, each above every
 * token its key had and every token given before. In a transaction. The keys are distinct
 * (`claimMany` refuses repeats), so no request's claim is decided against another's.
 */
function claimAll(s: Statements, requests: readonly ClaimRequest[]): ClaimResult[] {
  const results: ClaimResult[] = new Array(requests.length);
  const taking: number[] = [];
  let floor = 0;
  requests.forEach((request, i) => {
    const row = (
      request.ignoreDone
        ? s.currentClaim.get(request.sink, request.key)
        : s.claimState.get({ sink: request.sink, key: request.key })
    ) as ClaimRow | undefined;
    if (typeof row?.done === "string") {
      results[i] = { status: "done", receipt: parseStoredJson(row.done) as Receipt };
      return;
    }
    if (
      row !== undefined &&
      row.owner !== null &&
      row.released === 0 &&
      (row.expires_at as number) > request.now &&
      (request.takeOverFrom === undefined || row.owner !== request.takeOverFrom)
    ) {
      results[i] = { status: "held", owner: row.owner, expiresAt: row.expires_at as number };
      return;
    }
    floor = Math.max(floor, row?.fencing_token ?? 0);
    taking.push(i);
  });
  if (taking.length === 0) return results;
  const { last } = s.takeFencingTokens.get(floor, taking.length) as { last: number };
  const first = last - taking.length + 1;
  taking.forEach((i, j) => {
    const request = requests[i] as ClaimRequest;
    const fencingToken = first + j;
    s.putClaim.run(
      request.sink,
      request.key,
      request.owner,
      request.token,
      request.expiresAt,
      fencingToken,
    );
    results[i] = {
      status: "acquired",
      claim: Object.freeze({
        sink: request.sink,
        key: request.key,
        owner: request.owner,
        token: request.token,
        fencingToken,
        expiresAt: request.expiresAt,
      }),
    };
  });
  return results;
}

/** A freeze set or lifted, with its audit record; nothing when it is already so. */
function freezeTransaction(db: Database, s: Statements): Prepared["changeFreeze"] {
  return db.transaction((change: FreezeChange, make: MakeRecord): FreezeChanged => {
    const row = s.freezeOf.get(change.sink, change.origin) as { state: string } | undefined;
    const before =
      row === undefined ? undefined : Object.freeze(JSON.parse(row.state) as SinkFreeze);
    if ((before === undefined) === (change.freeze === undefined)) {
      return { before, record: undefined };
    }
    const record = appendRecord(s, make);
    if (change.freeze === undefined) s.deleteFreeze.run(change.sink, change.origin);
    else {
      s.putFreeze.run(
        change.sink,
        change.origin,
        record.index,
        JSON.stringify({ ...change.freeze, audit: record.index }),
      );
    }
    return { before, record };
  });
}

/** The next audit record, made from the last one, appended. */
function auditTransaction(db: Database, s: Statements): Prepared["appendAudit"] {
  return db.transaction((make: MakeRecord): AuditRecord => appendRecord(s, make));
}

/** Appends the next audit record, made from the last, inside the caller's transaction. */
function appendRecord(s: Statements, make: MakeRecord): AuditRecord {
  const last = s.lastAudit.get() as { idx: number; hash: string } | undefined;
  const record = make(last === undefined ? undefined : { index: last.idx, hash: last.hash });
  s.insertAudit.run(record.index, record.hash, JSON.stringify(record));
  return record;
}
