/**
 * FileLedger's row-index cache: digest mode's row hashes of positions 1 to n, written to
 * `row-index.cache` in the ledger directory when the ledger closes, and read back by the
 * first digest request after a reopen, so that a process (a cron job, a CLI run) does not
 * hash every entry again: it hashes only those appended after n. A cache, not a record:
 * it is used only when it is whole (its body's xxh64 matches) and describes this ledger
 * (the entry at position n is still the key and checksum it names); anything else is
 * ignored (the index is then built from a verified scan, as without it) and replaced at
 * the next close. Internal.
 *
 * @module
 */

import { readFile, rename, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";
import { xxh64Bytes } from "../../checksum/xxhash.js";
import { logger } from "../../observe/debug.js";
import { RowIndex } from "../row-index.js";

const log = logger("ledger");

/** The cache's file name, beside the segments. */
export const ROW_CACHE_FILE = "row-index.cache";
const FORMAT = "sinkproof-row-index";
const VERSION = 1;

/** What the cache's first line says. */
interface Header {
  readonly format: string;
  readonly version: number;
  /** Positions 1 to `length` are in it. */
  readonly length: number;
  /** The entry at `length`. */
  readonly key: string;
  readonly checksum: string;
  /** xxh64 of the body: the three columns of `length` u32 each (little-endian). */
  readonly body: string;
}

/** The key and checksum of the entry at a position, or undefined past the head. */
export type EntryAt = (position: number) => Promise<{ key: string; checksum: string } | undefined>;

/** Whether this machine's Uint32Arrays are little-endian (the cache's byte order). */
const LITTLE = endianness() === "LE";

/**
 * The index the cache in `directory` holds, when it is whole and of this ledger (at most
 * `count` positions); undefined when there is none or it cannot be used (said in the
 * debug log).
 */
export async function loadRowCache(
  directory: string,
  count: number,
  entryAt: EntryAt,
): Promise<RowIndex | undefined> {
  if (!LITTLE) return undefined;
  let bytes: Buffer;
  try {
    bytes = await readFile(join(directory, ROW_CACHE_FILE));
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ENOENT")
      log("the row-index cache cannot be read: %s", String(error));
    return undefined;
  }
  const why = await unusable(bytes, count, entryAt);
  if (typeof why === "string") {
    log("the row-index cache is not used: %s", why);
    return undefined;
  }
  return why;
}

async function unusable(
  bytes: Buffer,
  count: number,
  entryAt: EntryAt,
): Promise<RowIndex | string> {
  const newline = bytes.indexOf(10);
  if (newline < 0 || newline > 4096) return "no header";
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(0, newline).toString("utf8")) as Header;
  } catch {
    return "a header that is not JSON";
  }
  if (typeof header !== "object" || header === null) return "a header that is not one";
  if (header.format !== FORMAT || header.version !== VERSION) return "another format";
  const n = header.length;
  if (!Number.isSafeInteger(n) || n < 1) return "no positions";
  if (n > count) return `it holds ${n} positions, the ledger ${count}`;
  const body = bytes.subarray(newline + 1);
  if (body.length !== n * 12) return "a body of the wrong size";
  if (typeof header.body !== "string" || xxh64Bytes(body) !== header.body)
    return "a body that does not match its hash";
  const last = await entryAt(n);
  if (last === undefined || last.key !== header.key || last.checksum !== header.checksum)
    return `the entry at position ${n} is not the one it was made from`;
  // Copied into aligned arrays: the body need not start at a multiple of 4.
  const columns = new Uint32Array(n * 3);
  new Uint8Array(columns.buffer).set(body);
  return RowIndex.fromColumns(
    columns.subarray(0, n),
    columns.subarray(n, 2 * n),
    columns.subarray(2 * n, 3 * n),
  );
}

/**
 * Writes `index` to the cache in `directory` (a temporary file renamed over the old one,
 * so that a crash leaves the old cache or the new, never half of one); `last` is the entry
 * at `index.length`.
 */
export async function saveRowCache(
  directory: string,
  index: RowIndex,
  last: { key: string; checksum: string },
): Promise<void> {
  if (!LITTLE || index.length === 0) return;
  const { hash, hi, lo } = index.columns();
  const body = Buffer.alloc(index.length * 12);
  body.set(new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength), 0);
  body.set(new Uint8Array(hi.buffer, hi.byteOffset, hi.byteLength), index.length * 4);
  body.set(new Uint8Array(lo.buffer, lo.byteOffset, lo.byteLength), index.length * 8);
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    length: index.length,
    key: last.key,
    checksum: last.checksum,
    body: xxh64Bytes(body),
  };
  const path = join(directory, ROW_CACHE_FILE);
  const temp = `${path}.tmp`;
  await writeFile(temp, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]));
  await rename(temp, path);
}
