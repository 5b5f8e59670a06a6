/**
 * The file ledger's directory lock: one writer per directory.
 *
 * `LOCK` holds the holder's pid and a random token, created with O_EXCL. A lock whose pid
 * is not alive is stale: it is renamed away (an atomic step only one contender can win)
 * and a fresh one created. A directory opened twice in one process is refused as well.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { LedgerLockedError } from "../../errors.js";

/** Directories (real paths) this process has open. */
const openHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(lockFile: string): { pid: number; token: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lockFile, "utf8")) as { pid?: unknown; token?: unknown };
    if (typeof parsed.pid === "number" && typeof parsed.token === "string") {
      return { pid: parsed.pid, token: parsed.token };
    }
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return undefined;
}

/** A held lock; `release` removes it if it is still ours. */
export interface DirectoryLock {
  readonly file: string;
  /** Whether a stale lock of a dead process was taken over. */
  readonly tookOver: { pid: number } | undefined;
  release(): void;
}

/** Takes the lock of `dir` (a real path) or throws `LedgerLockedError`. */
export function lockDirectory(dir: string): DirectoryLock {
  const file = join(dir, "LOCK");
  if (openHere.has(dir)) {
    throw new LedgerLockedError(`The ledger in ${dir} is already open in this process`, {
      pid: process.pid,
      lockFile: file,
    });
  }
  const token = randomUUID();
  const content = JSON.stringify({
    pid: process.pid,
    token,
    host: hostname(),
    since: new Date().toISOString(),
  });
  let tookOver: { pid: number } | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeFileSync(file, content, { flag: "wx" });
      openHere.add(dir);
      return {
        file,
        tookOver,
        release() {
          openHere.delete(dir);
          if (readHolder(file)?.token === token) {
            try {
              unlinkSync(file);
            } catch {
              // already gone
            }
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = readHolder(file);
    if (holder !== undefined && holder.pid !== process.pid && isAlive(holder.pid)) {
      throw new LedgerLockedError(
        `The ledger in ${dir} is open for writing by process ${holder.pid} (lock file ${file})`,
        { pid: holder.pid, lockFile: file },
      );
    }
    // Stale: the holder is dead (or is this process, which no longer has it open).
    try {
      renameSync(file, `${file}.stale-${token}`);
      unlinkSync(`${file}.stale-${token}`);
      tookOver = { pid: holder?.pid ?? -1 };
    } catch (error) {
      // Someone else took it over first; try again.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  throw new LedgerLockedError(`Could not take the lock of ${dir}: it keeps changing hands`, {
    pid: readHolder(file)?.pid ?? -1,
    lockFile: file,
  });
}
