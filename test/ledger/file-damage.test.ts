/**
 * FileLedger against damage on disk: a bit flipped or the file cut at an offset, and the
 * outcome judged against what the ledger had acknowledged. A flip inside acknowledged
 * data must be a `CorruptionError`; a cut may only be cut back to an acknowledged prefix
 * and reported (`recovery.truncated`), or, at a commit point of the last segment with no
 * record of a close after it, open silently shorter (what no log can tell from a crash
 * just before that commit). Nothing readable may ever differ from what was appended.
 */
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import {
  type Checksum,
  CorruptionError,
  createSealer,
  type Envelope,
  FileLedger,
} from "../../src/index.js";

// tmpfs when there is one: thousands of opens, each of which fsyncs its lock and its close.
const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "sinkproof-damage-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const T0 = Date.UTC(2026, 0, 1);
const clock = () => T0;
const seal = createSealer({ clock });
const SINK = "warehouse";

/** What the ledger acknowledged, as counts. */
interface State {
  readonly entries: number;
  readonly receipts: number;
  readonly watermark: number;
  readonly audit: number;
  readonly sequence: number;
}
const EMPTY: State = { entries: 0, receipts: 0, watermark: 0, audit: 0, sequence: 0 };

interface Built {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly all: readonly Envelope[];
  /** The state after each acknowledged call, `EMPTY` first. */
  readonly states: readonly State[];
}

/** A ledger with every kind of record in it, each call acknowledged before the next. */
async function build(segmentBytes: number, batches: number, perBatch = 2): Promise<Built> {
  const dir = join(root, `ledger${n++}`);
  const ledger = await FileLedger.open(dir, { segmentBytes, clock });
  const all: Envelope[] = [];
  const states: State[] = [EMPTY];
  const step = async (change: (s: State) => Partial<State>, run: () => Promise<unknown>) => {
    await run();
    const last = states.at(-1) as State;
    states.push({ ...last, ...change(last) });
  };
  const receipt = (position: number) => {
    const e = all[position - 1] as Envelope;
    return ledger.putReceipt({
      sink: SINK,
      key: e.key,
      id: e.id,
      position,
      status: "written",
      checksum: e.checksum as Checksum,
      attempt: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:00.001Z",
    });
  };
  const extras = async (b: number) => {
    const head = all.length;
    await step(
      (s) => ({ receipts: s.receipts + 1 }),
      () => receipt(head),
    );
    await step(
      () => ({ watermark: head }),
      () => ledger.advanceWatermark(SINK, head),
    );
    await step(
      (s) => ({ sequence: s.sequence + 3 }),
      () => ledger.reserveSequence("p", 3),
    );
    await step(
      (s) => ({ audit: s.audit + 1 }),
      () => ledger.appendAudit({ actor: "test", action: "note", reason: `batch ${b}` }),
    );
  };
  for (let b = 0; b < batches; b++) {
    const batch = Array.from({ length: perBatch }, (_, i) =>
      seal({
        producer: "p",
        stream: "s",
        seq: all.length + i,
        type: "t",
        schema: { name: "t", version: 1 },
        payload: { b, i, blob: "y".repeat((b * 37) % 300) },
      }),
    );
    await step(
      (s) => ({ entries: s.entries + perBatch }),
      () => ledger.append(batch),
    );
    all.push(...batch);
    if (b % 3 === 2) await extras(b);
  }
  // Every kind of record near the end too (a watermark that does not move writes nothing).
  if ((batches - 1) % 3 !== 2) await extras(batches);
  await ledger.close();
  return { dir, segmentBytes, all, states };
}

const segmentsOf = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.startsWith("segment-"))
    .sort()
    .map((name) => join(dir, name));

/**
 * Where each group commit (version 2) or frame (version 1) of a segment ends, read from
 * the documented layout (docs/ledgers.md) so that the test does not lean on the code it tests.
 */
function commitPoints(data: Buffer): number[] {
  const groups = data.length >= 4 && data.readUInt32LE(0) === 0x31475053;
  const points: number[] = [];
  for (let at = 0; at < data.length; points.push(at)) {
    at += groups ? 24 + data.readUInt32LE(at + 4) : 8 + data.readUInt32LE(at);
  }
  return points;
}

/** The acknowledged state at each commit point of each segment, by file name. */
function statesAtCommitPoints(built: Built): Map<string, Map<number, State>> {
  const map = new Map<string, Map<number, State>>();
  let call = 0;
  for (const file of segmentsOf(built.dir)) {
    const points = new Map<number, State>();
    commitPoints(readFileSync(file)).forEach((point, i) => {
      // The first group of a segment is its header, written when the previous call's
      // group filled the segment before: the state is that call's.
      if (i > 0) call++;
      points.set(point, built.states[call] as State);
    });
    map.set(basename(file), points);
  }
  expect(call, "one group per acknowledged call").toBe(built.states.length - 1);
  return map;
}

type Outcome = "corruption" | "intact" | "cut-reported" | "cut-silent";
type Case = readonly [file: string, kind: "flip" | "cut", offset: number];

/** One copy of a built ledger, damaged and restored case after case. */
interface Sweep {
  readonly built: Built;
  readonly dir: string;
  readonly pristine: ReadonlyMap<string, Buffer>;
  readonly points: Map<string, Map<number, State>>;
  readonly lastSegment: string;
  readonly counts: Record<Outcome, number>;
  readonly violations: string[];
}

/**
 * A copy of `built`, with its record of the last close (`CLOSED`) kept, or removed as if
 * the process had crashed after its last acknowledged call.
 */
function prepare(built: Built, closed: boolean, copy: number): Sweep {
  const dir = `${built.dir}-${closed ? "closed" : "crashed"}-${copy}`;
  cpSync(built.dir, dir, { recursive: true });
  if (!closed) rmSync(join(dir, "CLOSED"), { force: true });
  const names = readdirSync(dir).filter((name) => name.startsWith("segment-") || name === "CLOSED");
  return {
    built,
    dir,
    pristine: new Map(names.map((name) => [name, readFileSync(join(dir, name))])),
    points: statesAtCommitPoints(built),
    lastSegment: basename(segmentsOf(dir).at(-1) as string),
    counts: { corruption: 0, intact: 0, "cut-reported": 0, "cut-silent": 0 },
    violations: [],
  };
}

/** Puts every file back as it was and removes any other (a new segment, a close record). */
function restore(sweep: Sweep): void {
  for (const name of readdirSync(sweep.dir)) {
    if (!sweep.pristine.has(name)) unlinkSync(join(sweep.dir, name));
  }
  for (const [name, bytes] of sweep.pristine) writeFileSync(join(sweep.dir, name), bytes);
}

async function observe(ledger: FileLedger, all: readonly Envelope[]): Promise<State | string> {
  let entries = 0;
  for await (const entry of ledger.scan()) {
    entries++;
    if (entry.position !== entries) return `position ${entry.position} where ${entries} belongs`;
    // Whatever is readable is exactly what was appended, in order.
    if (!isDeepStrictEqual(entry.envelope, all[entries - 1])) {
      return `position ${entries} holds another envelope`;
    }
  }
  let receipts = 0;
  for await (const _ of ledger.scanReceipts(SINK)) receipts++;
  let audit = 0;
  for await (const _ of ledger.scanAudit()) audit++;
  if (!(await ledger.verifyAudit()).ok) return "audit chain broken";
  const watermark = await ledger.getWatermark(SINK);
  const { first: sequence } = await ledger.reserveSequence("p", 1);
  return { entries, receipts, watermark, audit, sequence };
}

const same = (a: State, b: State) => JSON.stringify(a) === JSON.stringify(b);

/** Damages a file (a flip of one bit, or a cut) at an offset, opens, and judges the outcome. */
async function damageCase(sweep: Sweep, [file, kind, offset]: Case): Promise<void> {
  const pristine = sweep.pristine.get(file) as Buffer;
  const path = join(sweep.dir, file);
  const name = `${kind} at ${file}:${offset}`;
  if (kind === "flip") {
    const data = Buffer.from(pristine);
    data[offset] = (data[offset] as number) ^ (1 << (offset % 8));
    writeFileSync(path, data);
  } else {
    writeFileSync(path, pristine.subarray(0, offset));
  }
  let ledger: FileLedger;
  try {
    ledger = await FileLedger.open(sweep.dir, {
      segmentBytes: sweep.built.segmentBytes,
      cacheEntries: 0,
    });
  } catch (error) {
    writeFileSync(path, pristine);
    if (error instanceof CorruptionError) sweep.counts.corruption++;
    else sweep.violations.push(`${name}: ${String(error)}`);
    return;
  }
  let observed: State | string;
  try {
    observed = await observe(ledger, sweep.built.all);
  } catch (error) {
    observed = error instanceof CorruptionError ? "corruption" : `${String(error)}`;
  } finally {
    await ledger.close();
    restore(sweep);
  }
  if (observed === "corruption") {
    sweep.counts.corruption++;
    return;
  }
  if (typeof observed === "string") {
    sweep.violations.push(`${name}: ${observed}`);
    return;
  }
  const acknowledged = sweep.built.states.at(-1) as State;
  if (same(observed, acknowledged)) {
    sweep.counts.intact++;
    return;
  }
  const lost = `lost acknowledged records (${JSON.stringify(observed)} of ${JSON.stringify(acknowledged)})`;
  const reported = ledger.recovery.truncated !== undefined;
  if (kind === "flip" || file !== sweep.lastSegment) {
    sweep.violations.push(
      `${name}: ${lost}${reported ? ", reported as a torn tail" : " silently"}`,
    );
    return;
  }
  // A cut in the last segment: what is left must be the acknowledged state at the commit
  // point the file was cut back to.
  const points = sweep.points.get(file) as Map<number, State>;
  const at = Math.max(...[...points.keys()].filter((p) => p <= offset));
  const expected = points.get(at) as State;
  if (!same(observed, expected)) {
    sweep.violations.push(`${name}: ${lost}, not the state at commit point ${at}`);
  } else if (reported) {
    sweep.counts["cut-reported"]++;
  } else if (at === offset) {
    sweep.counts["cut-silent"]++;
  } else {
    sweep.violations.push(`${name}: ${lost} silently, inside a group`);
  }
}

/**
 * Runs `cases` on copies of `built` side by side (each case is independent, and an open
 * mostly waits on the file system), and adds up what they found.
 */
async function run(built: Built, closed: boolean, cases: readonly Case[]) {
  const copies = Array.from({ length: 8 }, (_, copy) => prepare(built, closed, copy));
  await Promise.all(
    copies.map(async (sweep, copy) => {
      for (let i = copy; i < cases.length; i += copies.length) {
        await damageCase(sweep, cases[i] as Case);
      }
    }),
  );
  const counts: Record<Outcome, number> = {
    corruption: 0,
    intact: 0,
    "cut-reported": 0,
    "cut-silent": 0,
  };
  for (const sweep of copies) {
    for (const key of Object.keys(counts) as Outcome[]) counts[key] += sweep.counts[key];
  }
  return { counts, violations: copies.flatMap((sweep) => sweep.violations) };
}

/** Every offset of every file of a copy of `built`, damaged the one way. */
function everyOffset(built: Built, closed: boolean, kind: "flip" | "cut"): Case[] {
  const names = readdirSync(built.dir).filter(
    (name) => name.startsWith("segment-") || (closed && name === "CLOSED"),
  );
  return names.flatMap((name) =>
    Array.from(
      { length: readFileSync(join(built.dir, name)).length },
      (_, offset): Case => [name, kind, offset],
    ),
  );
}

describe("FileLedger against damage on disk", () => {
  it("every offset of a small ledger, flipped and cut: no acknowledged record is ever lost in silence", async () => {
    // One segment of a few KiB with every kind of record (sealed segments: the next test).
    const built = await build(64 * 1024, 3, 1);
    // A flip: the close record kept (it is one more file to damage).
    const flipCases = everyOffset(built, true, "flip");
    const flips = await run(built, true, flipCases);
    const closedCases = everyOffset(built, true, "cut");
    const closedCuts = await run(built, true, closedCases);
    const crashCases = everyOffset(built, false, "cut");
    const crashCuts = await run(built, false, crashCases);
    const line = (cases: readonly Case[], { counts, violations }: typeof flips) =>
      `${cases.length} ${JSON.stringify({ ...counts, violations: violations.length })}`;
    console.log(
      `[damage sweep] flips: ${line(flipCases, flips)}; cuts after a clean close: ${line(closedCases, closedCuts)}; cuts after a crash (no CLOSED): ${line(crashCases, crashCuts)}`,
    );
    // Every flip is damage to acknowledged data: refused, never cut, never unnoticed.
    expect(flips.violations.slice(0, 20)).toEqual([]);
    expect(flips.counts.corruption).toBe(flipCases.length);
    // After a clean close, every cut below where it was closed is detected.
    expect(closedCuts.violations.slice(0, 20)).toEqual([]);
    expect(closedCuts.counts.corruption).toBe(closedCases.length);
    // After a crash, a cut is cut back to the commit point before it and reported, or,
    // exactly at a commit point, opens shorter: no log can tell that from a crash before
    // the commit.
    expect(crashCuts.violations.slice(0, 20)).toEqual([]);
    expect(crashCuts.counts["cut-reported"]).toBeGreaterThan(0);
    expect(crashCuts.counts["cut-silent"]).toBeGreaterThan(0);
  }, 120_000);

  it("seeded flips and cuts in a larger ledger (3 segments) are classified the same way", async () => {
    const built = await build(8192, 30);
    expect(segmentsOf(built.dir).length).toBeGreaterThanOrEqual(3);
    let seed = 42;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const summary: Record<string, unknown> = {};
    for (const closed of [true, false]) {
      const all = [...everyOffset(built, closed, "flip"), ...everyOffset(built, closed, "cut")];
      const cases = Array.from(
        { length: 150 },
        () => all[Math.floor(random() * all.length)] as Case,
      );
      // And every commit point of every sealed segment: a cut there leaves a well-formed,
      // shorter segment, which the next segment's header gives away.
      const sealed = segmentsOf(built.dir)
        .slice(0, -1)
        .map((file) => basename(file));
      for (const file of sealed) {
        for (const offset of commitPoints(readFileSync(join(built.dir, file))).slice(0, -1)) {
          cases.push([file, "cut", offset]);
        }
      }
      const { counts, violations } = await run(built, closed, cases);
      summary[closed ? "after a clean close" : "after a crash (no CLOSED)"] = counts;
      expect(violations).toEqual([]);
      if (closed) expect(counts.corruption).toBe(cases.length);
    }
    console.log(
      `[damage test] 150 seeded cases and every commit point of the sealed segments, each way: ${JSON.stringify(summary)}`,
    );
  }, 120_000);
});
