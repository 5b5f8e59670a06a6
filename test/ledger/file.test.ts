import { spawnSync } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  type Checksum,
  CorruptionError,
  createSealer,
  type Envelope,
  FileLedger,
  LedgerLockedError,
} from "../../src/index.js";
import { entriesFrame } from "../../src/ledger/file/frames.js";
import { ledgerConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-file-ledger-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

ledgerConformance({
  name: "FileLedger",
  describe,
  it,
  create: async ({ clock }) => FileLedger.open(join(root, `c${n++}`), { clock }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return FileLedger.open(ledger.directory, { clock });
  },
});

ledgerConformance({
  name: "FileLedger with tiny segments",
  describe,
  it,
  create: async ({ clock }) =>
    FileLedger.open(join(root, `s${n++}`), { clock, segmentBytes: 4096, cacheEntries: 0 }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return FileLedger.open(ledger.directory, { clock, segmentBytes: 4096, cacheEntries: 0 });
  },
});

// ---- FileLedger's own cases ----------------------------------------------------------

const fresh = () => join(root, `own${n++}`);
const T0 = Date.UTC(2026, 0, 1);
const sealer = createSealer({ clock: () => T0 });
const envelope = (seq: number, blob = "") =>
  sealer({
    producer: "p",
    stream: "s",
    seq,
    type: "t",
    schema: { name: "t", version: 1 },
    payload: { seq, blob },
  });

async function filled(
  dir: string,
  batches: number,
  perBatch = 3,
  options = {},
): Promise<Envelope[]> {
  const ledger = await FileLedger.open(dir, options);
  const all: Envelope[] = [];
  for (let b = 0; b < batches; b++) {
    const batch = Array.from({ length: perBatch }, (_, i) =>
      envelope(b * perBatch + i, "y".repeat((b * 37) % 300)),
    );
    await ledger.append(batch);
    all.push(...batch);
  }
  await ledger.putReceipt({
    sink: "warehouse",
    key: all[0]?.key as string,
    id: all[0]?.id as string,
    position: 1,
    status: "written",
    checksum: all[0]?.checksum as Checksum,
    attempt: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:00.001Z",
  });
  await ledger.close();
  return all;
}

function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith("segment-"))
    .sort()
    .map((name) => join(dir, name));
}

describe("FileLedger on disk", () => {
  it("reports what it found when it opens, and starts new segments past segmentBytes", async () => {
    const dir = fresh();
    await filled(dir, 40, 3, { segmentBytes: 4096 });
    expect(segments(dir).length).toBeGreaterThan(3);
    const ledger = await FileLedger.open(dir, { segmentBytes: 4096 });
    expect(ledger.recovery).toMatchObject({ segments: segments(dir).length, entries: 120 });
    expect(ledger.recovery.truncated).toBeUndefined();
    expect(await ledger.head()).toBe(120);
    await ledger.close();
  });

  it("cuts off a torn last record and reports it; everything before stays; appends continue", async () => {
    const dir = fresh();
    const all = await filled(dir, 5);
    const last = segments(dir).at(-1) as string;
    const size = statSync(last).size;
    // A crash in the middle of a write: half a frame at the end.
    const frame = readFileSync(last).subarray(size - 200);
    writeFileSync(last, Buffer.concat([readFileSync(last), frame.subarray(0, 90)]));
    const ledger = await FileLedger.open(dir);
    expect(ledger.recovery.truncated).toMatchObject({ file: last, offset: size, bytes: 90 });
    expect(statSync(last).size).toBe(size);
    for (const e of all) expect((await ledger.get(e.key))?.envelope).toEqual(e);
    await ledger.append([envelope(1000)]);
    expect(await ledger.head()).toBe(all.length + 1);
    await ledger.close();
  });

  it("raises CorruptionError with file and offset for damage before the last good record", async () => {
    const dir = fresh();
    await filled(dir, 5);
    const last = segments(dir).at(-1) as string;
    const data = readFileSync(last);
    data[120] = (data[120] as number) ^ 0xff;
    writeFileSync(last, data);
    const error = await FileLedger.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(last);
    expect((error as CorruptionError).offset).toBeLessThanOrEqual(120);
    // The lock was released: after a repair by hand, the directory opens again.
    writeFileSync(last, Buffer.from(data.map((b, i) => (i === 120 ? b ^ 0xff : b))));
    await (await FileLedger.open(dir)).close();
  });

  it("raises CorruptionError when a segment is missing", async () => {
    const dir = fresh();
    await filled(dir, 40, 3, { segmentBytes: 4096 });
    unlinkSync(segments(dir)[1] as string);
    await expect(FileLedger.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it("checks every envelope read from disk against its hash", async () => {
    const dir = fresh();
    const all = await filled(dir, 2);
    const ledger = await FileLedger.open(dir, { cacheEntries: 0 });
    const file = segments(dir)[0] as string;
    const data = readFileSync(file);
    const at = data.indexOf(Buffer.from(`"seq":${all[1]?.seq}`));
    expect(at).toBeGreaterThan(0);
    data[at + 7] = "9".charCodeAt(0);
    writeFileSync(file, data);
    await expect(ledger.get(all[1]?.key as string)).rejects.toBeInstanceOf(CorruptionError);
    await expect(ledger.get(all[0]?.key as string)).resolves.toMatchObject({ position: 1 });
    await ledger.close();
  });

  it("refuses a second open of the same directory, in this process and from another", async () => {
    const dir = fresh();
    const ledger = await FileLedger.open(dir);
    await expect(FileLedger.open(dir)).rejects.toBeInstanceOf(LedgerLockedError);
    const other = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import("./src/index.ts").then((m) => m.FileLedger.open(${JSON.stringify(dir)})).then(() => console.log("opened"), (e) => console.log(e.code, e.pid))`,
      ],
      { cwd: projectRoot, encoding: "utf8" },
    );
    expect(other.stdout.trim()).toBe(`ledger_locked ${process.pid}`);
    await ledger.close();
    await (await FileLedger.open(dir)).close();
  });

  it("takes over the stale lock of a dead process and says so", async () => {
    const dir = fresh();
    await (await FileLedger.open(dir)).close();
    const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
      encoding: "utf8",
    });
    const pid = Number(dead.stdout.trim());
    writeFileSync(join(dir, "LOCK"), JSON.stringify({ pid, token: "t", host: hostname() }));
    const ledger = await FileLedger.open(dir);
    expect(ledger.recovery.tookOverLockOf).toBe(pid);
    await ledger.close();
  });

  it("rejects bad options with an InvalidArgumentError", async () => {
    await expect(FileLedger.open("")).rejects.toMatchObject({ path: "directory" });
    await expect(FileLedger.open(fresh(), { segmentBytes: 10 })).rejects.toMatchObject({
      path: "options.segmentBytes",
    });
    await expect(FileLedger.open(fresh(), { cacheEntries: -1 })).rejects.toMatchObject({
      path: "options.cacheEntries",
    });
  });
});

describe("FileLedger against seeded damage", () => {
  it("every byte flip or truncation ends in a clean tail cut or a CorruptionError, never a wrong entry", async () => {
    const dir = fresh();
    const all = await filled(dir, 12, 2, { segmentBytes: 8192 });
    const byKey = new Map(all.map((e) => [e.key, e]));
    const files = segments(dir);
    const pristine = files.map((f) => readFileSync(f));
    let seed = 42;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const outcomes = { corruption: 0, truncated: 0, clean: 0 };
    for (let round = 0; round < 150; round++) {
      files.forEach((f, i) => {
        writeFileSync(f, pristine[i] as Buffer);
      });
      const which = Math.floor(random() * files.length);
      const data = Buffer.from(pristine[which] as Buffer);
      const offset = Math.floor(random() * data.length);
      if (random() < 0.5) {
        data[offset] = (data[offset] as number) ^ (1 << Math.floor(random() * 8));
        writeFileSync(files[which] as string, data);
      } else {
        writeFileSync(files[which] as string, data.subarray(0, offset));
      }
      let ledger: FileLedger;
      try {
        ledger = await FileLedger.open(dir, { segmentBytes: 8192, cacheEntries: 0 });
      } catch (error) {
        expect(error).toBeInstanceOf(CorruptionError);
        outcomes.corruption++;
        continue;
      }
      try {
        if (ledger.recovery.truncated !== undefined) outcomes.truncated++;
        else outcomes.clean++;
        // Whatever is readable is exactly what was appended, in order.
        let position = 0;
        for await (const entry of ledger.scan()) {
          position++;
          expect(entry.position).toBe(position);
          expect(entry.envelope).toEqual(byKey.get(entry.envelope.key));
          expect(entry.envelope).toEqual(all[position - 1]);
        }
        // A cut that lands exactly between two records of the last segment leaves a shorter,
        // clean ledger: a prefix of what was appended, which is all a log can promise.
        expect(position).toBeLessThanOrEqual(all.length);
      } catch (error) {
        // A flip inside an envelope's bytes shows when the envelope is read.
        expect(error).toBeInstanceOf(CorruptionError);
        outcomes.corruption++;
      } finally {
        await ledger.close();
      }
    }
    expect(outcomes.corruption).toBeGreaterThan(0);
    expect(outcomes.truncated).toBeGreaterThan(0);
    console.log(`[damage test] 150 cases: ${JSON.stringify(outcomes)}`);
  });
});

describe("FileLedger indexes", () => {
  it("raises CorruptionError when a valid-looking record repeats a key already in the ledger", async () => {
    const dir = fresh();
    const all = await filled(dir, 2);
    const last = segments(dir).at(-1) as string;
    const dup = all[0] as Envelope;
    const frame = entriesFrame(all.length + 1, "2026-01-01T00:00:00.000Z", [
      {
        key: dup.key,
        id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
        producer: dup.producer,
        stream: dup.stream,
        checksum: dup.checksum,
        prefix: "",
        payload: Buffer.from(JSON.stringify({ ...dup, id: "01ARYZ6S41TSV4RRFFQ69G5FAV" })),
        suffix: "",
      },
    ]);
    writeFileSync(last, Buffer.concat([readFileSync(last), frame.bytes]));
    const error = await FileLedger.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain("same key or id");
  });

  it("raises CorruptionError for a record that matches its hash but is not an envelope", async () => {
    const dir = fresh();
    const all = await filled(dir, 1);
    const last = segments(dir).at(-1) as string;
    const frame = entriesFrame(all.length + 1, "2026-01-01T00:00:00.000Z", [
      {
        key: "k",
        id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
        producer: "p",
        stream: "s",
        checksum: "xxh64:0000000000000000",
        prefix: '{"x":',
        payload: Buffer.from("1"),
        suffix: "}",
      },
    ]);
    writeFileSync(last, Buffer.concat([readFileSync(last), frame.bytes]));
    const ledger = await FileLedger.open(dir);
    await expect(ledger.get("k")).rejects.toBeInstanceOf(CorruptionError);
    await ledger.close();
  });

  it("answers lookups of keys that are absent and present", async () => {
    const dir = fresh();
    const all = await filled(dir, 30, 10, { cacheEntries: 0 });
    const ledger = await FileLedger.open(dir, { cacheEntries: 0 });
    for (const e of all) expect((await ledger.get(e.key))?.envelope.id).toBe(e.id);
    for (const e of all) expect((await ledger.getById(e.id))?.envelope.key).toBe(e.key);
    expect(await ledger.get("not-there")).toBeUndefined();
    await ledger.close();
  });
});
