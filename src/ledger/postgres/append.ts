/**
 * `PostgresLedger`'s appends, as bodies of its append transaction (run under the append
 * lock): the fast path, for envelopes that are all new, and the careful path, which looks
 * each envelope's key and id up and lets `planAppend` decide; and the INSERT's columns,
 * one array per column, cut into chunks a JavaScript string can carry.
 *
 * Promises: positions are `head + 1`, `head + 2`, … in the order of the batch; a batch is
 * all or nothing (the chunks are inserted in one transaction, and the fast path rolls back
 * if any row was already there).
 *
 * @module
 */

import { algorithmOf } from "../../checksum/checksum.js";
import type { Envelope } from "../../envelope/schema.js";
import { type AppendOutcome, planAppend } from "../base.js";
import { rowWords } from "../digests.js";
import { storedEnvelope } from "../envelope-json.js";
import { entryHashOfRest } from "../read-checks.js";
import type { EntryRow } from "../sql-rows.js";
import type { AppendedEntry, LedgerEntry } from "../types.js";
import type { PgPoolClient } from "./pool.js";
import type { Statements } from "./sql.js";

/**
 * Most characters of envelope text in one INSERT. node-postgres writes a `text[]`
 * parameter as one string, with quotes and backslashes escaped (up to twice as long),
 * and a JavaScript string holds at most 2^29 - 24 characters: 32 Mi keeps every chunk far
 * below that. A bigger batch is several INSERTs in the same transaction.
 */
let insertChunkChars = 32 * 1024 * 1024;

/**
 * Sets the chunk size of appends and returns the previous one. Internal, for tests (a
 * small chunk shows the chunking without hundreds of megabytes); not exported by
 * `sinkproof/postgres`.
 */
export function setInsertChunkChars(chars: number): number {
  const previous = insertChunkChars;
  insertChunkChars = chars;
  return previous;
}

/**
 * The insert's columns for `envelopes[indexes]` at positions after `head`, cut into
 * chunks of at most `insertChunkChars` characters of envelope text (one `text[]`
 * parameter must fit in one JavaScript string); fills `results`. The chunks are inserted
 * in order in one transaction, so positions stay contiguous and the batch all-or-nothing.
 */
function insertColumns(
  envelopes: readonly Envelope[],
  indexes: readonly number[],
  head: number,
  appendedAt: string,
  canonical: readonly (Uint8Array | undefined)[],
  results: AppendedEntry[],
): unknown[][][] {
  const chunks: unknown[][][] = [];
  let positions: number[] = [];
  let keys: string[] = [];
  let ids: string[] = [];
  let producers: string[] = [];
  let streams: string[] = [];
  let checksums: string[] = [];
  let times: string[] = [];
  let texts: string[] = [];
  let hashes: string[] = [];
  let rowHashes: number[] = [];
  let rowHis: number[] = [];
  let rowLos: number[] = [];
  let chars = 0;
  const cut = () => {
    chunks.push([
      positions,
      keys,
      ids,
      producers,
      streams,
      checksums,
      times,
      texts,
      hashes,
      rowHashes,
      rowHis,
      rowLos,
    ]);
    rowHashes = [];
    rowHis = [];
    rowLos = [];
    positions = [];
    keys = [];
    ids = [];
    producers = [];
    streams = [];
    checksums = [];
    times = [];
    texts = [];
    hashes = [];
    chars = 0;
  };
  for (let j = 0; j < indexes.length; j++) {
    const index = indexes[j] as number;
    const envelope = envelopes[index] as Envelope;
    const { text, rest } = storedEnvelope(envelope, canonical[index]);
    if (texts.length > 0 && chars + text.length > insertChunkChars) cut();
    chars += text.length;
    const position = head + j + 1;
    positions.push(position);
    keys.push(envelope.key);
    ids.push(envelope.id);
    producers.push(envelope.producer);
    streams.push(envelope.stream);
    checksums.push(envelope.checksum);
    times.push(appendedAt);
    texts.push(text);
    hashes.push(entryHashOfRest(position, appendedAt, rest, algorithmOf(envelope.checksum)));
    const [rowHash, rowHi, rowLo] = rowWords(envelope);
    rowHashes.push(rowHash);
    rowHis.push(rowHi);
    rowLos.push(rowLo);
    results[index] = {
      entry: Object.freeze({ position, appendedAt, envelope }),
      status: "appended",
    };
  }
  if (texts.length > 0) cut();
  return chunks;
}

/**
 * The fast path: every envelope inserted after `head` with INSERT … ON CONFLICT DO
 * NOTHING; `undefined` (and roll back) if any row was already there, by key, id or
 * position.
 */
export async function appendFresh(
  client: PgPoolClient,
  q: Statements,
  head: number,
  envelopes: readonly Envelope[],
  appendedAt: string,
  canonical: readonly (Uint8Array | undefined)[],
): Promise<[AppendOutcome | undefined, boolean]> {
  const results: AppendedEntry[] = new Array(envelopes.length);
  const chunks = insertColumns(
    envelopes,
    envelopes.map((_, i) => i),
    head,
    appendedAt,
    canonical,
    results,
  );
  for (const columns of chunks) {
    const inserted = await client.query({ ...q.insertFresh, values: columns });
    if (inserted.rowCount !== (columns[0] as unknown[]).length) return [undefined, false];
  }
  return [{ ok: true, results }, true];
}

/**
 * The careful path: the envelopes' keys and ids looked up (`entryOf` verifies each row
 * found, like every read), `planAppend` decides each envelope, the fresh ones are
 * inserted after the head; a clash rolls back.
 */
export async function appendPlanned(
  client: PgPoolClient,
  q: Statements,
  entryOf: (row: EntryRow) => LedgerEntry,
  envelopes: readonly Envelope[],
  appendedAt: string,
  canonical: readonly (Uint8Array | undefined)[],
): Promise<[AppendOutcome, boolean]> {
  const keys = envelopes.map((e) => e.key);
  const ids = envelopes.map((e) => e.id);
  const found = await client.query({ ...q.lookup, values: [keys, ids] });
  const byKey = new Map<string, LedgerEntry>();
  const byId = new Map<string, LedgerEntry>();
  for (const row of found.rows as unknown as EntryRow[]) {
    const entry = entryOf(row);
    byKey.set(entry.envelope.key, entry);
    byId.set(entry.envelope.id, entry);
  }
  const plan = planAppend(
    envelopes,
    (key) => byKey.get(key),
    (id) => byId.get(id),
  );
  if (!plan.ok) return [plan, false];
  const results: AppendedEntry[] = new Array(envelopes.length);
  for (const [index, entry] of plan.existing) results[index] = { entry, status: "existing" };
  if (plan.fresh.length === 0) return [{ ok: true, results }, false];
  const head = Number((await client.query(q.head)).rows[0]?.head ?? 0);
  const chunks = insertColumns(envelopes, plan.fresh, head, appendedAt, canonical, results);
  for (const columns of chunks) await client.query({ ...q.insert, values: columns });
  return [{ ok: true, results }, true];
}
