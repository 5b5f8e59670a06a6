/**
 * Claim owners that say where they run, so a deliverer can tell a holder that is gone.
 *
 * The default owner of a guard is `<hostname>:<pid>:<random>:<host id>`, where the host id
 * is a hash of the host name, the boot id and the pid namespace: two processes get the same
 * host id exactly when they see the same process table. A claim held by an owner with this
 * process's host id whose pid no longer exists is a leftover of a crash, and is taken over
 * at once instead of after its TTL. Anything else (another host, another container, an
 * owner string a user chose, a pid that is alive or reused) waits for the claim to expire:
 * the check errs only towards waiting.
 *
 * @module
 */

import { createHash, randomUUID } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";

let hostIdentity: string | undefined;

/** 12 hex digits naming this process table: host name, boot, pid namespace. */
export function hostId(): string {
  if (hostIdentity !== undefined) return hostIdentity;
  const read = (f: () => string): string => {
    try {
      return f().trim();
    } catch {
      return "";
    }
  };
  const boot = read(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8"));
  const pidNamespace = read(() => readlinkSync("/proc/self/ns/pid"));
  hostIdentity = createHash("sha256")
    .update(`${hostname()}\n${boot}\n${pidNamespace}`)
    .digest("hex")
    .slice(0, 12);
  return hostIdentity;
}

/** A guard's default claim owner: `<hostname>:<pid>:<random>:<host id>`. */
export function defaultOwner(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}:${hostId()}`;
}

/** The pid of an owner made by {@link defaultOwner} on this host; undefined for any other. */
export function localPid(owner: string): number | undefined {
  const parts = owner.split(":");
  if (parts.length < 4 || parts.at(-1) !== hostId()) return undefined;
  const pid = Number(parts.at(-3));
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** True when the owner ran on this host, in a process that no longer exists. */
export function isDeadLocalOwner(owner: string): boolean {
  const pid = localPid(owner);
  if (pid === undefined || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, under another user. Only ESRCH says it is gone.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
