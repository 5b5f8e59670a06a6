/**
 * The JSONL sink: the sink conformance suite, then what is its own: a torn last line cut
 * off at open (never acknowledged), a damaged line before it refused with the file and
 * offset, compaction keeping exactly the live rows, a payload edited under its checksum
 * found by read-back, and bad options refused with typed errors.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSealer, type Envelope, MemoryLedger, reconcile } from "../../src/index.js";
import { jsonlSink } from "../../src/sinks/jsonl/index.js";
import { sinkConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-jsonl-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

sinkConformance({
  name: "jsonlSink",
  describe,
  it,
  create: (name) => jsonlSink({ name, path: join(root, `c${n++}.jsonl`) }),
  reopen: async (sink) => {
    await sink.close();
    return jsonlSink({ name: sink.name, path: sink.path });
  },
});

const seal = createSealer();
let seq = 0;
const envelope = (payload: unknown = { seq }): Envelope =>
  seal({
    producer: "p",
    seq: seq++,
    type: "t",
    schema: { name: "t", version: 1 },
    payload: payload as never,
  });
const ctx = (position: number, token = 1) => ({
  sink: "archive",
  attempt: 1,
  replay: false,
  position,
  fencingToken: token,
  signal: new AbortController().signal,
  original: undefined,
});
const keys = async (sink: Awaited<ReturnType<typeof jsonlSink>>) => {
  const out: string[] = [];
  for await (const o of sink.observe()) out.push(o.key);
  return out.sort();
};

describe("jsonlSink", () => {
  it("cuts off a torn last line at open, and refuses a damaged line before it", async () => {
    const path = join(root, "torn.jsonl");
    const sink = await jsonlSink({ name: "archive", path });
    const [a, b] = [envelope(), envelope()];
    await sink.write(a, ctx(1));
    await sink.write(b, ctx(2));
    await sink.close();
    const whole = readFileSync(path);
    appendFileSync(path, '{"op":"put","key":"p/default/9","posi');
    const reopened = await jsonlSink({ name: "archive", path });
    expect(reopened.recovery).toMatchObject({ lines: 2, rows: 2 });
    expect(reopened.recovery.tornBytes).toBeGreaterThan(0);
    expect(readFileSync(path).equals(whole), "the torn bytes are gone").toBe(true);
    expect(await keys(reopened)).toEqual([a.key, b.key].sort());
    await reopened.close();
    // A byte changed in the first line: damage, named by file and offset.
    writeFileSync(path, Buffer.concat([Buffer.from("{nope}\n"), whole]));
    await expect(jsonlSink({ name: "archive", path })).rejects.toMatchObject({
      code: "corruption",
      file: path,
      offset: 0,
    });
  });

  it("compaction keeps exactly the live rows; rewrite and remove survive it and a reopen", async () => {
    const path = join(root, "compact.jsonl");
    const sink = await jsonlSink({ name: "archive", path });
    const list = Array.from({ length: 20 }, () => envelope());
    for (const [i, e] of list.entries()) await sink.write(e, ctx(i + 1));
    for (const e of list.slice(0, 5)) await sink.remove(e.key);
    const changed = seal({
      producer: "p",
      seq: list[6]?.seq as number,
      key: list[6]?.key,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { changed: true },
    });
    await sink.rewrite(changed);
    const before = readFileSync(path).length;
    await sink.compact();
    expect(readFileSync(path).length).toBeLessThan(before);
    expect(readFileSync(path).toString().trim().split("\n")).toHaveLength(15);
    expect(await keys(sink)).toEqual(
      list
        .slice(5)
        .map((e) => e.key)
        .sort(),
    );
    await sink.close();
    const reopened = await jsonlSink({ name: "archive", path });
    const rows = new Map<string, string>();
    for await (const o of reopened.observe()) rows.set(o.key, o.checksum as string);
    expect(rows.size).toBe(15);
    expect(rows.get(changed.key)).toBe(changed.checksum);
    await reopened.close();
  });

  it("a payload edited under its checksum is found by read-back (observe: both)", async () => {
    const path = join(root, "edited.jsonl");
    const ledger = new MemoryLedger();
    const sink = await jsonlSink({ name: "archive", path, lagToleranceMs: 0 });
    const e = envelope({ total: 10 });
    const { results } = await ledger.append([e]);
    await sink.write(e, ctx(results[0]?.entry.position as number));
    await sink.close();
    writeFileSync(path, readFileSync(path, "utf8").replace('"total":10', '"total":0'));
    const reopened = await jsonlSink({ name: "archive", path, lagToleranceMs: 0 });
    const report = await reconcile({ ledger, sinks: [reopened] });
    expect(report.sinks[0]?.counts.mismatched).toBe(1);
    expect(report.sinks[0]?.findings[0]?.mismatch).toBeDefined();
    await reopened.close();
  });

  it("keys and payloads with U+2028, U+2029 and other characters JSON leaves raw read back", async () => {
    const path = join(root, "unicode.jsonl");
    const sink = await jsonlSink({ name: "archive", path });
    const e = envelope({ text: "line\u2028separator\u2029paragraph \u0085 é 🙂" });
    await sink.write(e, ctx(1));
    await sink.remove("p/none"); // not held: nothing written
    const rows: unknown[] = [];
    for await (const o of sink.observe()) rows.push(o.payload);
    expect(rows).toEqual([e.payload]);
    await sink.compact();
    await sink.close();
    const reopened = await jsonlSink({ name: "archive", path });
    expect(await keys(reopened)).toEqual([e.key]);
    await reopened.close();
  });

  it("a batch with one key twice stores the write under the higher token; a bad context is refused", async () => {
    const path = join(root, "twice.jsonl");
    const sink = await jsonlSink({ name: "archive", path });
    const e = envelope();
    const later = seal({
      producer: e.producer,
      seq: e.seq,
      key: e.key,
      type: e.type,
      schema: e.schema,
      payload: { later: true },
    });
    await sink.writeBatch([later, e], {
      sink: "archive",
      attempt: 1,
      replay: false,
      signal: new AbortController().signal,
      items: [ctx(1, 9), ctx(1, 3)],
    });
    const rows = new Map<string, string>();
    for await (const o of sink.observe()) rows.set(o.key, o.checksum as string);
    expect(rows.get(e.key)).toBe(later.checksum);
    await expect(
      sink.write(envelope(), { ...ctx(1), position: undefined } as never),
    ).rejects.toMatchObject({
      code: "invalid_argument",
      path: "context.position",
    });
    await expect(sink.write(envelope(), { ...ctx(1), fencingToken: -1 })).rejects.toMatchObject({
      code: "invalid_argument",
      path: "context.fencingToken",
    });
    await sink.close();
  });

  it("a read-back sees one state of the file: a write made while it streams waits for it", async () => {
    const path = join(root, "turns.jsonl");
    const sink = await jsonlSink({ name: "archive", path });
    const list = Array.from({ length: 50 }, () => envelope());
    for (const [i, e] of list.entries()) await sink.write(e, ctx(i + 1));
    const seen: string[] = [];
    let late: Promise<unknown> | undefined;
    for await (const o of sink.observe()) {
      seen.push(o.key);
      // A newer write of the first key, made while the read-back streams.
      late ??= Promise.resolve().then(() =>
        sink.write(
          seal({
            producer: "p",
            seq: list[0]?.seq as number,
            key: list[0]?.key,
            type: "t",
            schema: { name: "t", version: 1 },
            payload: { newer: true },
          }),
          ctx(1, 2),
        ),
      );
    }
    await late;
    expect(seen.sort()).toEqual(list.map((e) => e.key).sort());
    expect((await keys(sink)).length).toBe(50);
    await sink.close();
  });

  it("refuses bad options with typed errors naming the path", async () => {
    const cases: [unknown, string][] = [
      [{ name: "", path: join(root, "x.jsonl") }, "options.name"],
      [{ name: "a", path: "" }, "options.path"],
      [{ name: "a", path: join(root, "x.jsonl"), observe: "payload" }, "options.observe"],
      [{ name: "a", path: join(root, "x.jsonl"), fsync: "yes" }, "options.fsync"],
      [{ name: "a", path: join(root, "x.jsonl"), lagToleranceMs: -1 }, "options.lagToleranceMs"],
      [{ name: "a", path: join(root, "x.jsonl"), pth: 1 }, "options.pth"],
      [{ name: "a", path: "a\uD800b" }, "options.path"],
      [{ name: "a", path: join(root, "x.jsonl"), reconcileBy: "rows" }, "options.reconcileBy"],
      [null, "options"],
    ];
    for (const [options, path] of cases) {
      await expect(jsonlSink(options as never), path).rejects.toMatchObject({
        code: "invalid_argument",
        path,
      });
    }
    await expect(
      jsonlSink({ name: "a", path: join(root, "no-such-dir", "x.jsonl") }),
    ).rejects.toMatchObject({ code: "sink_storage_error" });
  });
});
