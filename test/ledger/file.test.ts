import { spawnSync } from "node:child_process";
import {
  cpSync,
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
  verify,
} from "../../src/index.js";
import { entriesFrame, groupHeader, jsonFrame, LAST_KIND } from "../../src/ledger/file/frames.js";
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

/**
 * Appends one group of `frames` to the last segment, chained on the group the ledger was
 * closed after, as the ledger would have written it; `keep` bytes of it (a torn write).
 */
function appendGroup(dir: string, frames: Buffer[], keep?: number): void {
  const { chain } = JSON.parse(readFileSync(join(dir, "CLOSED"), "utf8")) as { chain: number };
  const last = segments(dir).at(-1) as string;
  const group = Buffer.concat([groupHeader(frames, chain), ...frames]);
  writeFileSync(last, Buffer.concat([readFileSync(last), group.subarray(0, keep)]));
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
    // A crash in the middle of a write: the first 90 bytes of the next group at the end.
    const next = entriesFrame(all.length + 1, "2026-01-01T00:00:00.000Z", [
      {
        key: "torn",
        id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
        producer: "p",
        stream: "s",
        checksum: "xxh64:0000000000000000",
        prefix: '{"x":',
        payload: Buffer.from("1".repeat(200)),
        suffix: "}",
      },
    ]);
    appendGroup(dir, [next.bytes], 90);
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

describe("FileLedger indexes", () => {
  it("raises CorruptionError when a valid-looking record repeats a key already in the ledger", async () => {
    const dir = fresh();
    const all = await filled(dir, 2);
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
    appendGroup(dir, [frame.bytes]);
    const error = await FileLedger.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain("same key or id");
  });

  it("a record of a kind it does not know, hash intact, is named as written by a newer sinkproof", async () => {
    const dir = fresh();
    await filled(dir, 1);
    appendGroup(dir, [jsonFrame((LAST_KIND + 1) as never, { from: "the future" })]);
    const error = await FileLedger.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain(
      `record kind ${LAST_KIND + 1}, which this sinkproof does not know`,
    );
    expect((error as CorruptionError).message).toContain("newer sinkproof");
  });

  it("raises CorruptionError for a record that matches its hash but is not an envelope", async () => {
    const dir = fresh();
    const all = await filled(dir, 1);
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
    appendGroup(dir, [frame.bytes]);
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

describe("FileLedger format version 1", () => {
  // Written by sinkproof before format version 2 (test/ledger/fixtures/file-ledger-v1.json says what is in it).
  const fixture = fileURLToPath(new URL("./fixtures/file-ledger-v1", import.meta.url));
  const expected = JSON.parse(
    readFileSync(fileURLToPath(new URL("./fixtures/file-ledger-v1.json", import.meta.url)), "utf8"),
  ) as {
    segments: number;
    entries: Array<{ key: string; checksum: string }>;
    receipts: number;
    watermark: number;
    sequence: number;
    auditHead: { index: number; hash: string };
  };

  it("opens a version-1 directory, reads everything in it, and goes on in a version-2 segment", async () => {
    const dir = fresh();
    cpSync(fixture, dir, { recursive: true });
    const v1 = segments(dir).map((f) => readFileSync(f));
    const ledger = await FileLedger.open(dir, { segmentBytes: 4096 });
    // The version-1 segments, then one new segment.
    expect(ledger.recovery).toMatchObject({
      segments: expected.segments + 1,
      entries: expected.entries.length,
    });
    expect(ledger.recovery.truncated).toBeUndefined();
    let position = 0;
    for await (const entry of ledger.scan()) {
      expect(entry.envelope).toMatchObject(expected.entries[position++] as object);
      expect(verify(entry.envelope).ok).toBe(true);
    }
    expect(position).toBe(expected.entries.length);
    let receipts = 0;
    for await (const _ of ledger.scanReceipts("warehouse")) receipts++;
    expect(receipts).toBe(expected.receipts);
    expect(await ledger.getWatermark("warehouse")).toBe(expected.watermark);
    expect((await ledger.reserveSequence("p", 1)).first).toBe(expected.sequence);
    expect(await ledger.verifyAudit({ head: expected.auditHead })).toMatchObject({ ok: true });
    await ledger.append([envelope(5000)]);
    await ledger.close();
    // The version-1 segments were not touched; the new one says version 2.
    const after = segments(dir);
    after.slice(0, v1.length).forEach((f, i) => {
      expect(readFileSync(f)).toEqual(v1[i]);
    });
    const header = readFileSync(after.at(-1) as string);
    expect(header.readUInt32LE(0)).toBe(0x31475053);
    expect(header.toString("utf8", 0, 200)).toContain('"version":2');
    const again = await FileLedger.open(dir, { segmentBytes: 4096 });
    expect(again.recovery.segments).toBe(expected.segments + 1);
    expect(await again.head()).toBe(expected.entries.length + 1);
    await again.close();
  });

  it("in a version-1 segment, a complete last frame that fails its checksum is damage, not a torn tail", async () => {
    const dir = fresh();
    cpSync(fixture, dir, { recursive: true });
    const last = segments(dir).at(-1) as string;
    const data = readFileSync(last);
    // Inside the last frame (the audit record), away from its length field.
    data[data.length - 10] = (data[data.length - 10] as number) ^ 0x01;
    writeFileSync(last, data);
    const error = await FileLedger.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain("frame checksum mismatch");
    // A version-1 torn write (the last frame cut short) is still cut off and reported.
    writeFileSync(last, data.subarray(0, data.length - 10));
    const ledger = await FileLedger.open(dir);
    expect(ledger.recovery.truncated).toMatchObject({
      file: last,
      reason: "frame body runs past the end",
    });
    await ledger.close();
  });
});
