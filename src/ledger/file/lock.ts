/**
 * The file ledger's directory lock: one writer per directory, across processes and across
 * copies of sinkproof in one process.
 *
 * `LOCK` holds the holder's record (JSON: pid, a random token, host name, and where Linux
 * tells them, the boot id, the pid namespace and the process start time). Promises:
 * - **Acquisition is atomic.** The record is written to a temp file of its own, fsync'd,
 *   and hard-linked into place as `LOCK`; `link` fails if `LOCK` exists. So no process ever
 *   sees a `LOCK` empty or half-written (the version-1 lock was created, then written: a
 *   competitor reading the empty file judged it stale).
 * - **A live holder is never taken over.** Stale means: its boot id is not this boot's, or
 *   its pid does not exist, is a zombie, or was reused (another start time). A `LOCK` from
 *   another host or another pid namespace cannot be judged from here and is refused, as is
 *   a `LOCK` that does not parse; the error says so, and a person removes it.
 * - **A takeover removes exactly the lock it judged stale.** Removing a file whose record
 *   carries token `t` (other than by its owner) needs the marker `LOCK.takeover-<t>`, made
 *   by `link` too, so one process at a time acts on `t`; holding it, the taker re-reads the
 *   file, removes it only if it is byte-for-byte what it judged, then drops the marker. A
 *   record is written once, under a name that no other record ever takes, so while the
 *   marker is held nothing else removes or replaces that file: there is no moment at which
 *   a live lock is out of place. A marker left by a taker that died is itself stale and is
 *   removed the same way (its marker names the dead taker's token).
 *
 * A directory opened twice in one process (by any copy of sinkproof in it) is refused too.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LedgerLockedError } from "../../errors.js";

/** The directories (real paths) open in this process, with their tokens; shared by every copy of sinkproof. */
const openHere: Map<string, string> = (() => {
  const global = globalThis as Record<symbol, Map<string, string> | undefined>;
  const key = Symbol.for("sinkproof.file-ledger.open-directories");
  const table = global[key] ?? new Map<string, string>();
  global[key] = table;
  return table;
})();

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const MARKER = /^LOCK\.takeover-([A-Za-z0-9_-]{1,64})$/;
const TEMP = /^LOCK\.([A-Za-z0-9_-]{1,64})\.tmp$/;
/** How often a contender looks again at a lock that keeps changing hands, before it gives up. */
const ATTEMPTS = 200;

/** What a lock file says about its holder. */
interface HolderRecord {
  readonly pid: number;
  readonly token: string;
  readonly host: string;
  readonly since?: string;
  /** /proc/sys/kernel/random/boot_id of the holder's boot. */
  readonly boot?: string;
  /** The holder's pid namespace (/proc/self/ns/pid). */
  readonly pidns?: string;
  /** The holder's start time (field 22 of /proc/<pid>/stat), which tells a reused pid. */
  readonly start?: string;
}

/** A lock file as read: its bytes, and its record when they parse as one. */
interface Seen {
  readonly bytes: Buffer;
  readonly record: HolderRecord | undefined;
}

type Verdict =
  | { readonly live: false }
  | { readonly live: true; readonly why: string; readonly host?: string | undefined };

function readOptional(read: () => string): string | undefined {
  try {
    return read().trim();
  } catch {
    return undefined;
  }
}

/** State and start time of a process, from /proc (Linux); undefined elsewhere or when it is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  const stat = readOptional(() => readFileSync(`/proc/${pid}/stat`, "latin1"));
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  return state === undefined || start === undefined ? undefined : { state, start };
}

let self: { boot?: string; pidns?: string; start?: string } | undefined;
function thisProcess(): { boot?: string; pidns?: string; start?: string } {
  if (self === undefined) {
    const boot = readOptional(() => readFileSync("/proc/sys/kernel/random/boot_id", "latin1"));
    const pidns = readOptional(() => readlinkSync("/proc/self/ns/pid"));
    const start = procStat(process.pid)?.start;
    self = {
      ...(boot === undefined ? {} : { boot }),
      ...(pidns === undefined ? {} : { pidns }),
      ...(start === undefined ? {} : { start }),
    };
  }
  return self;
}

function parseRecord(bytes: Buffer): HolderRecord | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { pid, token, host } = parsed;
  // pid 0 and negative pids name process groups for kill(): never a holder.
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid < 1) return undefined;
  if (typeof token !== "string" || !TOKEN.test(token) || typeof host !== "string") return undefined;
  const text = (name: string) =>
    typeof parsed[name] === "string" ? { [name]: parsed[name] as string } : {};
  return {
    pid,
    token,
    host,
    ...text("since"),
    ...text("boot"),
    ...text("pidns"),
    ...text("start"),
  };
}

/** Reads a lock file or marker; undefined when it is not there. */
function readSeen(file: string): Seen | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return { bytes, record: parseRecord(bytes) };
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the holder of `record` may still be writing. Anything this host cannot judge is live. */
function judge(record: HolderRecord): Verdict {
  const here = thisProcess();
  if (record.host !== hostname()) {
    return { live: true, why: `on host ${JSON.stringify(record.host)}`, host: record.host };
  }
  if (record.pidns !== undefined && here.pidns !== undefined && record.pidns !== here.pidns) {
    return { live: true, why: `in another pid namespace (${record.pidns})` };
  }
  // Another boot of this host: every process of that boot is gone.
  if (record.boot !== undefined && here.boot !== undefined && record.boot !== here.boot) {
    return { live: false };
  }
  if (record.pid === process.pid) {
    // This process. Without a start time to compare, it cannot be told from a dead process
    // that had this pid: version 1 judged such a lock stale, and so does this.
    if (record.start === undefined || here.start === undefined) return { live: false };
    if (record.start !== here.start) return { live: false };
    // Written by this very process, and not in the table of any copy of sinkproof in this
    // realm: another realm (a worker thread) may hold it.
    return { live: true, why: "in this process (another thread or realm)" };
  }
  if (!exists(record.pid)) return { live: false };
  const stat = procStat(record.pid);
  // A zombie has exited: it writes nothing more.
  if (stat !== undefined && (stat.state === "Z" || stat.state === "X")) return { live: false };
  // The pid was reused by a process that started later.
  if (stat !== undefined && record.start !== undefined && stat.start !== record.start) {
    return { live: false };
  }
  return { live: true, why: "" };
}

function refuse(dir: string, file: string, seen: Seen, verdict?: Verdict): never {
  const record = seen.record;
  if (record === undefined) {
    throw new LedgerLockedError(
      `The lock file ${file} of the ledger in ${dir} cannot be read (${JSON.stringify(seen.bytes.toString("utf8").slice(0, 80))}); if no process has the ledger open, remove it`,
      { pid: -1, lockFile: file },
    );
  }
  const why = verdict?.live === true && verdict.why !== "" ? ` ${verdict.why}` : "";
  const remedy =
    why === "" ? "" : ": it cannot be checked from here; if it is gone, remove the lock file";
  throw new LedgerLockedError(
    `The ledger in ${dir} is open for writing by process ${record.pid}${why} (lock file ${file})${remedy}`,
    {
      pid: record.pid,
      lockFile: file,
      ...(verdict?.live === true && verdict.host !== undefined ? { host: verdict.host } : {}),
    },
  );
}

/** Writes `bytes` to a new file and fsyncs it, so that a link to it is whole after a power loss too. */
function writeNewFile(path: string, bytes: Buffer): void {
  const fd = openSync(path, "wx");
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** Links `from` as `to`: false when `to` exists. */
function linkNew(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

interface Context {
  readonly dir: string;
  readonly file: string;
  /** This contender's record, fsync'd: linked as LOCK to take the lock, as a marker to take over. */
  readonly temp: string;
}

/**
 * Removes `name` (in the ledger directory) if it still is `seen`, whose holder was judged
 * dead: `removed` if it was, `gone` if it had changed or gone already, `busy` when another
 * live process is taking it over right now.
 */
function removeStale(
  context: Context,
  name: string,
  seen: Seen & { record: HolderRecord },
  depth = 0,
): "removed" | "gone" | "busy" {
  const markerName = `LOCK.takeover-${seen.record.token}`;
  const marker = join(context.dir, markerName);
  if (!linkNew(context.temp, marker)) {
    const other = readSeen(marker);
    if (other === undefined) return "busy"; // just dropped: look again
    if (other.record === undefined) refuse(context.dir, marker, other);
    // A taker in this process (another thread) is at work, even where /proc cannot say so.
    if (other.record.pid === process.pid) return "busy";
    const verdict = judge(other.record);
    if (verdict.live) {
      if (verdict.why !== "") refuse(context.dir, marker, other, verdict);
      return "busy";
    }
    // A taker died holding the marker; nested markers need a taker dying at each level.
    if (depth > 16) refuse(context.dir, marker, other);
    removeStale(context, markerName, { bytes: other.bytes, record: other.record }, depth + 1);
    return "busy";
  }
  try {
    // Holding the marker, this process alone may remove a file with this token: what is
    // read now stays until removed below. Records are written once under a name of their
    // own, so bytes equal to what was judged are that same, dead, record.
    const path = join(context.dir, name);
    const now = readSeen(path);
    if (now === undefined || !now.bytes.equals(seen.bytes)) return "gone";
    unlinkSync(path);
    return "removed";
  } finally {
    unlinkIfThere(marker);
  }
}

/** Removes what contenders that died left behind: their temp files and takeover markers. */
function sweep(context: Context): void {
  let names: string[];
  try {
    names = readdirSync(context.dir);
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const temp = TEMP.exec(name);
      const marker = MARKER.exec(name);
      if (temp === null && marker === null) continue;
      const path = join(context.dir, name);
      const seen = readSeen(path);
      // A temp file that does not parse yet is being written: its owner is alive. Files of
      // this process belong to another thread's open, under way.
      if (seen?.record === undefined || seen.record.pid === process.pid) continue;
      if (judge(seen.record).live) continue;
      if (temp !== null) unlinkIfThere(path);
      else removeStale(context, name, { bytes: seen.bytes, record: seen.record });
    } catch {
      // Best effort: a leftover file costs nothing but a directory entry.
    }
  }
}

/** A held lock; `release` removes it if it is still this holder's. */
export interface DirectoryLock {
  readonly file: string;
  /** Whether a stale lock of a dead process was taken over. */
  readonly tookOver: { pid: number } | undefined;
  release(): void;
}

/**
 * Takes the lock of `dir` (a real path) or throws `LedgerLockedError`: when a live process
 * holds it, when its holder cannot be judged from this host, or when it keeps changing
 * hands.
 */
export async function lockDirectory(dir: string): Promise<DirectoryLock> {
  const file = join(dir, "LOCK");
  const held = openHere.get(dir);
  if (held !== undefined) {
    throw new LedgerLockedError(`The ledger in ${dir} is already open in this process`, {
      pid: process.pid,
      lockFile: file,
    });
  }
  const token = randomUUID();
  // Taken before the first await, so a second open in this process is refused at once.
  openHere.set(dir, token);
  try {
    const here = thisProcess();
    const record: HolderRecord = {
      pid: process.pid,
      token,
      host: hostname(),
      since: new Date().toISOString(),
      ...here,
    };
    const context: Context = { dir, file, temp: join(dir, `LOCK.${token}.tmp`) };
    writeNewFile(context.temp, Buffer.from(JSON.stringify(record), "utf8"));
    let tookOver: { pid: number } | undefined;
    try {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (linkNew(context.temp, file)) {
          sweep(context);
          return { file, tookOver, release: () => release(dir, file, token) };
        }
        const seen = readSeen(file);
        if (seen === undefined) continue; // released meanwhile
        if (seen.record === undefined) refuse(dir, file, seen);
        const verdict = judge(seen.record);
        if (verdict.live) refuse(dir, file, seen, verdict);
        const outcome = removeStale(context, "LOCK", { bytes: seen.bytes, record: seen.record });
        if (outcome === "removed") tookOver = { pid: seen.record.pid };
        else if (outcome === "busy") await sleep(1 + Math.random() * 4);
      }
    } finally {
      unlinkIfThere(context.temp);
    }
    const last = readSeen(file);
    throw new LedgerLockedError(`Could not take the lock of ${dir}: it keeps changing hands`, {
      pid: last?.record?.pid ?? -1,
      lockFile: file,
    });
  } catch (error) {
    openHere.delete(dir);
    throw error;
  }
}

function release(dir: string, file: string, token: string): void {
  if (openHere.get(dir) !== token) return;
  try {
    // A live holder is never taken over, so a LOCK with this token is still this one's.
    if (readSeen(file)?.record?.token === token) unlinkSync(file);
  } catch {
    // already gone
  } finally {
    openHere.delete(dir);
  }
}
