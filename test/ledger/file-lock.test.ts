import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { FileLedger, LedgerLockedError } from "../../src/index.js";

// tmpfs when there is one: the lock is about directory operations, not durability, and a
// round without fsyncs is shorter, so more rounds fit in a few seconds.
const root = mkdtempSync(
  join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "sinkproof-lock-race-"),
);
afterAll(() => rmSync(root, { recursive: true, force: true }));
const childScript = fileURLToPath(new URL("./fixtures/lock-race-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
}

function startChild(log: string, id: number, holdMs: number): Child {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", childScript, log, String(id), String(holdMs)],
    { cwd: projectRoot, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  proc.stderr.on("data", (chunk) => {
    stderr += String(chunk);
  });
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: proc.stdout }).on("line", (line) => {
    const wake = waiting.shift();
    if (wake !== undefined) wake(line);
    else lines.push(line);
  });
  const exited = new Promise<string>((resolve) => {
    proc.on("exit", (code, signal) =>
      resolve(`child ${id} exited (${code}, ${signal}): ${stderr}`),
    );
  });
  return {
    proc,
    next: () =>
      Promise.race([
        new Promise<string>((resolve) => {
          const line = lines.shift();
          if (line !== undefined) resolve(line);
          else waiting.push(resolve);
        }),
        exited.then((why) => {
          throw new Error(why);
        }),
      ]),
  };
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
    encoding: "utf8",
  });
  return Number(dead.stdout.trim());
}

/**
 * Checks the shared log of one round: holders' start and end markers must alternate, each
 * end naming the child that started: two holders at once show as two starts in a row.
 */
function overlaps(lines: readonly string[]): string[] {
  const problems: string[] = [];
  let holder: string | undefined;
  for (const line of lines) {
    const [kind, , id] = line.split(" ");
    if (kind === "start") {
      if (holder !== undefined) problems.push(`child ${id} started while child ${holder} held`);
      holder = id;
    } else if (kind === "end") {
      if (holder !== id) problems.push(`child ${id} ended while child ${holder} held`);
      holder = undefined;
    }
  }
  return problems;
}

describe("FileLedger directory lock under racing processes", () => {
  it("never has two holders: 4 processes racing to open one directory, fresh and with a dead holder's LOCK", async () => {
    const CHILDREN = 4;
    const ROUNDS = Number(process.env.SINKPROOF_LOCK_ROUNDS ?? 100);
    const log = join(root, "holders.log");
    writeFileSync(log, "");
    const children = Array.from({ length: CHILDREN }, (_, id) => startChild(log, id, 3));
    const dead = deadPid();
    const tally = { rounds: 0, fresh: 0, stale: 0, holds: 0, refusals: 0 };
    const errors: string[] = [];
    try {
      for (const child of children) expect(await child.next()).toBe("ready");
      for (let round = 0; round < ROUNDS; round++) {
        const dir = join(root, `r${round}`);
        const stale = round % 2 === 1;
        if (stale) {
          // A LOCK as the version-1 ledger wrote it, left by a process that died.
          mkdirSync(dir);
          writeFileSync(
            join(dir, "LOCK"),
            JSON.stringify({
              pid: dead,
              token: `dead-${round}`,
              host: hostname(),
              since: "2026-01-01T00:00:00.000Z",
            }),
          );
          tally.stale++;
        } else {
          tally.fresh++;
        }
        const at = Date.now() + 10;
        for (const child of children) child.proc.stdin.write(`go ${round} ${dir} ${at}\n`);
        const outcomes = await Promise.all(children.map((child) => child.next()));
        for (const outcome of outcomes) {
          const [, n, what] = outcome.split(" ");
          expect(n).toBe(String(round));
          if (what === "error") errors.push(`round ${round}: ${outcome}`);
          else tally.refusals += Number(what);
        }
        tally.rounds++;
      }
    } finally {
      for (const child of children) child.proc.stdin.end();
    }
    const byRound = new Map<string, string[]>();
    for (const line of readFileSync(log, "utf8").split("\n").filter(Boolean)) {
      const n = line.split(" ")[1] as string;
      byRound.set(n, [...(byRound.get(n) ?? []), line]);
    }
    const problems = [...byRound].flatMap(([n, lines]) =>
      overlaps(lines).map((p) => `round ${n}: ${p}`),
    );
    tally.holds = [...byRound.values()].flat().filter((line) => line.startsWith("start")).length;
    console.log(
      `[lock race] ${CHILDREN} processes, ${JSON.stringify(tally)}, ${problems.length} overlapping holds, ${errors.length} errors`,
    );
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    // Nothing left behind: no lock (every holder released), no temp file, no takeover marker.
    const leftovers = Array.from({ length: ROUNDS }, (_, round) =>
      readdirSync(join(root, `r${round}`)).filter((name) => name.startsWith("LOCK")),
    ).flat();
    expect(leftovers).toEqual([]);
    // Every child got the lock once per round (when its turn came).
    expect(tally.holds).toBe(CHILDREN * ROUNDS);
  }, 120_000);
});

// ---- how a lock's holder is judged --------------------------------------------------

const linux = existsSync("/proc/self/stat");
let m = 0;
const freshDir = () => {
  const dir = join(root, `judge${m++}`);
  mkdirSync(dir);
  return dir;
};
const lockOf = (dir: string) => join(dir, "LOCK");
const writeLock = (dir: string, record: Record<string, unknown>) =>
  writeFileSync(lockOf(dir), JSON.stringify({ token: `t${m}`, host: hostname(), ...record }));
const startTimeOf = (pid: number) =>
  readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]?.split(" ")[19] as string;
const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
const lockError = (dir: string) =>
  FileLedger.open(dir).then(
    async (ledger) => {
      await ledger.close();
      throw new Error("opened");
    },
    (error: unknown) => error as LedgerLockedError,
  );

/** A process that stays alive while `use` runs. */
async function withLiveProcess<T>(use: (pid: number) => Promise<T>): Promise<T> {
  const proc = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    return await use(proc.pid as number);
  } finally {
    proc.kill("SIGKILL");
  }
}

describe("FileLedger directory lock: judging the holder", () => {
  it("refuses a LOCK of a live process, and leaves it in place", async () => {
    await withLiveProcess(async (pid) => {
      const dir = freshDir();
      writeLock(dir, { pid });
      const before = readFileSync(lockOf(dir));
      const error = await lockError(dir);
      expect(error).toBeInstanceOf(LedgerLockedError);
      expect(error).toMatchObject({ code: "ledger_locked", pid, lockFile: lockOf(dir) });
      expect(readFileSync(lockOf(dir))).toEqual(before);
    });
  });

  it("refuses a LOCK written on another host, whatever its pid, and names the host", async () => {
    const dir = freshDir();
    writeLock(dir, { pid: deadPid(), host: "other-host.example" });
    const error = await lockError(dir);
    expect(error).toMatchObject({ code: "ledger_locked", host: "other-host.example" });
    expect(error.message).toContain('on host "other-host.example"');
    expect(error.message).toContain("remove the lock file");
    expect(existsSync(lockOf(dir))).toBe(true);
  });

  it("refuses a LOCK that does not parse (never written by this version), and leaves it", async () => {
    const dir = freshDir();
    writeFileSync(lockOf(dir), "");
    const error = await lockError(dir);
    expect(error).toMatchObject({ code: "ledger_locked", pid: -1 });
    expect(error.message).toContain("cannot be read");
    expect(readFileSync(lockOf(dir), "utf8")).toBe("");
  });

  it("takes over a LOCK whose pid exists, when the start time says it was reused", async (context) => {
    if (!linux) return context.skip("needs /proc (Linux) to read a process's start time");
    await withLiveProcess(async (pid) => {
      const dir = freshDir();
      writeLock(dir, { pid, start: String(Number(startTimeOf(pid)) - 1) });
      const ledger = await FileLedger.open(dir);
      expect(ledger.recovery.tookOverLockOf).toBe(pid);
      await ledger.close();
      // With its own start time, the same live process is the holder.
      writeLock(dir, { pid, start: startTimeOf(pid) });
      expect(await lockError(dir)).toMatchObject({ code: "ledger_locked", pid });
    });
  });

  it("takes over a LOCK from an earlier boot, even when its pid exists now", async (context) => {
    if (!linux) return context.skip("needs /proc (Linux) for the boot id");
    await withLiveProcess(async (pid) => {
      const dir = freshDir();
      writeLock(dir, { pid, boot: "00000000-0000-0000-0000-000000000000" });
      const ledger = await FileLedger.open(dir);
      expect(ledger.recovery.tookOverLockOf).toBe(pid);
      await ledger.close();
      writeLock(dir, { pid, boot: bootId() });
      expect(await lockError(dir)).toMatchObject({ code: "ledger_locked", pid });
    });
  });

  it("refuses a LOCK from another pid namespace (another container), whose pids mean nothing here", async (context) => {
    if (!linux) return context.skip("needs /proc (Linux) for pid namespaces");
    const dir = freshDir();
    const pidns = readlinkSync("/proc/self/ns/pid");
    writeLock(dir, { pid: deadPid(), pidns: "pid:[1]" });
    const error = await lockError(dir);
    expect(error.message).toContain("another pid namespace");
    writeLock(dir, { pid: deadPid(), pidns });
    const ledger = await FileLedger.open(dir);
    expect(ledger.recovery.tookOverLockOf).toBeGreaterThan(0);
    await ledger.close();
  });

  it("takes over a LOCK of a zombie (a process that exited and was not reaped)", async (context) => {
    if (!linux) return context.skip("needs /proc (Linux) to see a zombie");
    // sh starts a short `sleep` in the background and becomes a long one, which never reaps
    // it; the short one outlives the exec (else sh itself could reap it first).
    const proc = spawn("sh", ["-c", "sleep 0.3 & echo $!; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) => proc.stdout.once("data", (d) => resolve(String(d)))),
      );
      for (
        let i = 0;
        i < 2000 && !readFileSync(`/proc/${zombie}/stat`, "latin1").includes(") Z ");
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const dir = freshDir();
      writeLock(dir, { pid: zombie });
      const ledger = await FileLedger.open(dir);
      expect(ledger.recovery.tookOverLockOf).toBe(zombie);
      await ledger.close();
    } finally {
      proc.kill("SIGKILL");
    }
  });

  it("finishes a takeover that a dead process started: its marker is stale too", async () => {
    const dir = freshDir();
    const dead = deadPid();
    writeLock(dir, { pid: dead, token: "holder" });
    // A taker died holding the marker for the dead holder's token, and left its temp file.
    const taker = JSON.stringify({ pid: deadPid(), token: "taker", host: hostname() });
    writeFileSync(join(dir, "LOCK.takeover-holder"), taker);
    writeFileSync(join(dir, "LOCK.taker.tmp"), taker);
    const ledger = await FileLedger.open(dir);
    expect(ledger.recovery.tookOverLockOf).toBe(dead);
    expect(readdirSync(dir).filter((name) => name.startsWith("LOCK"))).toEqual(["LOCK"]);
    await ledger.close();
    expect(readdirSync(dir).filter((name) => name.startsWith("LOCK"))).toEqual([]);
  });

  it("waits for a live process's takeover rather than start another, then gives up saying so", async () => {
    await withLiveProcess(async (pid) => {
      const dir = freshDir();
      writeLock(dir, { pid: deadPid(), token: "holder" });
      writeFileSync(
        join(dir, "LOCK.takeover-holder"),
        JSON.stringify({ pid, token: "taker", host: hostname() }),
      );
      const error = await lockError(dir);
      expect(error.message).toContain("keeps changing hands");
      expect(existsSync(lockOf(dir))).toBe(true);
    });
  });
});
