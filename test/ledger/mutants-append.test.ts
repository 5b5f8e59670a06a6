/**
 * The append's batch rules and the audit writer's retries, pinned where the mutation run
 * found them loose: `planAppend`'s argument errors (path and message) and its id clash;
 * a batch's repeats folded (a key repeated with another checksum, an id reused under
 * another key, refused with the exact error), the error of a clash with the ledger at the
 * envelope's index in the batch as given, the results mapped back (a repeat is existing,
 * an existing entry checked once and required to be its key's), an invalid envelope's
 * path naming its index; and `AuditWriter`: an outcome retries a stale set exactly
 * `AUDIT_RETRIES` times, any other failure is thrown at once, and only an outcome reads
 * the log.
 */
import { describe, expect, it } from "vitest";
import {
  type AuditHead,
  type AuditRecord,
  CorruptionError,
  type Envelope,
  IdempotencyConflictError,
  InvalidArgumentError,
  type LedgerEntry,
  LedgerError,
  MemoryLedger,
  seal,
} from "../../src/index.js";
import { appendResults, type Batch, planAppend } from "../../src/ledger/append.js";
import type { AppendOutcome } from "../../src/ledger/base.js";
import type { AppendedEntry } from "../../src/ledger/types.js";
import { rejected, thrown } from "../helpers.js";

const CLOCK = { clock: () => Date.UTC(2026, 0, 1) };

/** An envelope under `key` with payload `{ n }`; `id` fixes its id. */
function envelope(key: string, n = 0, id?: string): Envelope {
  return seal(
    { producer: "p", seq: 0, key, type: "t", schema: { name: "t", version: 1 }, payload: { n } },
    id === undefined ? CLOCK : { ...CLOCK, ids: () => id },
  );
}

function expectInvalid(error: unknown, path: string, message: string): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(error).toMatchObject({ code: "invalid_argument", path, message });
}

const none = (): undefined => undefined;

describe("planAppend", () => {
  it("refuses an element that is not an object, naming its index", () => {
    const good = envelope("a");
    for (const [value, got] of [
      [1, "number"],
      ["x", "string"],
      [null, "null"],
      [undefined, "undefined"],
    ] as const) {
      expectInvalid(
        thrown(() => planAppend([good, value as never], none, none)),
        "envelopes[1]",
        `envelopes[1] must be an envelope, got ${got}`,
      );
    }
  });

  it("refuses an element whose fields cannot be read, with the cause", () => {
    const boom = new Error("trap");
    const hostile = new Proxy(
      {},
      {
        get() {
          throw boom;
        },
      },
    );
    const error = thrown(() => planAppend([hostile as never], none, none));
    expectInvalid(error, "envelopes[0]", "envelopes[0] could not be read: trap");
    expect((error as Error).cause).toBe(boom);
  });

  it("refuses an element without a string key, id or checksum", () => {
    const { key, id, checksum } = envelope("a");
    for (const value of [
      { id, checksum },
      { key, checksum },
      { key, id },
      { key: 1, id, checksum },
      { key, id: 1, checksum },
      { key, id, checksum: 1 },
    ]) {
      expectInvalid(
        thrown(() => planAppend([value as never], none, none)),
        "envelopes[0]",
        "envelopes[0] must be an envelope (with a key, an id and a checksum)",
      );
    }
  });

  it("names its arguments when they are wrong", () => {
    expectInvalid(
      thrown(() => planAppend("x" as never, none, none)),
      "envelopes",
      "envelopes must be an array, got string",
    );
    expectInvalid(
      thrown(() => planAppend([], 1 as never, none)),
      "byKey",
      "byKey must be a function, got number",
    );
    expectInvalid(
      thrown(() => planAppend([], none, null as never)),
      "byId",
      "byId must be a function, got null",
    );
  });

  it("reports an id already in the ledger under another key as an id clash", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const stored = envelope("a");
    const { results } = await ledger.append([stored]);
    const entry = (results[0] as AppendedEntry).entry;
    const incoming = envelope("b", 0, stored.id);
    expect(
      planAppend([envelope("c"), incoming], none, (id) => (id === stored.id ? entry : undefined)),
    ).toEqual({ ok: false, index: 1, clash: "id", existing: entry });
  });
});

describe("append: a batch's repeats", () => {
  it("refuses a key repeated with another checksum, naming the later envelope", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const second = envelope("k", 2);
    const error = await rejected(() => ledger.append([envelope("x"), envelope("k", 1), second]));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({
      code: "idempotency_conflict",
      message: 'Envelopes 2 and an earlier one in the batch share key "k" with different checksums',
      key: "k",
      path: "$[2]",
      existing: undefined,
      incoming: second.checksum,
    });
    expect(await ledger.get("k")).toBeUndefined();
  });

  it("refuses an id reused under another key in the batch, and appends nothing", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const first = envelope("a");
    const reused = envelope("b", 0, first.id);
    const error = await rejected(() => ledger.append([first, envelope("c"), reused]));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({
      code: "id_conflict",
      message: `Envelope 2 reuses id ${first.id} under another key`,
      key: "b",
      path: "$[2]",
      existing: undefined,
      incoming: reused.checksum,
    });
    expect(await ledger.head()).toBe(0);
  });

  it("answers a repeat as existing even when its first occurrence is new", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const a = envelope("a");
    const b = envelope("b");
    const result = await ledger.append([a, b, a, a]);
    expect(result.appended).toBe(2);
    expect(result.existing).toBe(2);
    expect(result.results.map((r) => r.status)).toEqual([
      "appended",
      "appended",
      "existing",
      "existing",
    ]);
    expect(result.results.map((r) => r.entry.position)).toEqual([1, 2, 1, 1]);
    expect(await ledger.head()).toBe(2);
  });

  it("names an invalid envelope by its index in the batch", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const bad = { ...envelope("b"), checksum: "xxh64:0000000000000000" } as Envelope;
    const error = await rejected(() => ledger.append([envelope("a"), bad]));
    expect(error).toMatchObject({ code: "checksum_mismatch", path: "$[1].checksum" });
  });
});

/** A MemoryLedger subclass (so its reads are checked) that keeps canonical payloads, recording what `_append` is given. */
class Keeping extends MemoryLedger {
  protected override readonly keepsCanonicalPayloads: boolean = true;
  given: { keys: string[]; canonical: (string | undefined)[] }[] = [];

  protected override async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    // BaseLedger passes it; MemoryLedger's own signature leaves it out.
    canonical: readonly (Uint8Array | undefined)[] = [],
  ): Promise<AppendOutcome> {
    this.given.push({
      keys: envelopes.map((e) => e.key),
      canonical: canonical.map((b) => (b === undefined ? undefined : new TextDecoder().decode(b))),
    });
    return super._append(envelopes, appendedAt);
  }
}

describe("append: what the adapter is given", () => {
  it("hands each key once, with its own canonical payload bytes, when a batch repeats", async () => {
    const ledger = new Keeping(CLOCK);
    const a = envelope("a", 1);
    const b = envelope("b", 2);
    const result = await ledger.append([a, a, b, a]);
    expect(ledger.given).toEqual([{ keys: ["a", "b"], canonical: ['{"n":1}', '{"n":2}'] }]);
    expect(result.results.map((r) => r.status)).toEqual([
      "appended",
      "existing",
      "appended",
      "existing",
    ]);
  });

  it("hands a batch without repeats as it is, with its canonical payload bytes", async () => {
    const ledger = new Keeping(CLOCK);
    await ledger.append([envelope("a", 1), envelope("b", 2)]);
    expect(ledger.given).toEqual([{ keys: ["a", "b"], canonical: ['{"n":1}', '{"n":2}'] }]);
  });

  it("trusts the envelopes it checked at append by identity when they are read back", async () => {
    const ledger = new Keeping(CLOCK);
    // A copy, as from JSON: the checked envelope is a new object, which the read trusts.
    const { results } = await ledger.append([{ ...envelope("a") }]);
    const entry = (results[0] as AppendedEntry).entry;
    expect(await ledger.get("a")).toBe(entry);
    expect(await ledger.getById(entry.envelope.id)).toBe(entry);
  });
});

describe("append: a clash with the ledger", () => {
  it("reports a key already there with another checksum, at its index in the batch as given", async () => {
    const ledger = new MemoryLedger(CLOCK);
    await ledger.append([envelope("z"), envelope("k", 1)]);
    const existing = await ledger.get("k");
    const incoming = envelope("k", 2);
    const a = envelope("a");
    // The repeat of "a" is folded: "k" is unique[1] but the batch's $[2].
    const error = await rejected(() => ledger.append([a, a, incoming]));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({
      code: "idempotency_conflict",
      message: `Key "k" is already in the ledger at position 2 with checksum ${existing?.envelope.checksum}, not ${incoming.checksum}`,
      key: "k",
      position: 2,
      path: "$[2]",
      incoming: incoming.checksum,
    });
    expect((error as IdempotencyConflictError).existing).toEqual(existing);
  });

  it("reports an id already there under another key, at its index in the batch as given", async () => {
    const ledger = new MemoryLedger(CLOCK);
    const stored = envelope("k");
    await ledger.append([envelope("z"), stored]);
    const existing = await ledger.get("k");
    const incoming = envelope("other", 0, stored.id);
    const a = envelope("a");
    const error = await rejected(() => ledger.append([a, a, a, incoming]));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({
      code: "id_conflict",
      message: `Id ${stored.id} is already in the ledger at position 2 under key "k"`,
      key: "other",
      position: 2,
      path: "$[3]",
      incoming: incoming.checksum,
    });
    expect((error as IdempotencyConflictError).existing).toEqual(existing);
  });
});

describe("appendResults", () => {
  const site = () => ({ file: "store.db", table: "entries" });

  async function stored(...envelopes: Envelope[]): Promise<LedgerEntry[]> {
    const ledger = new MemoryLedger(CLOCK);
    const { results } = await ledger.append(envelopes);
    return results.map((r) => r.entry);
  }

  const batchOf = (unique: Envelope[], slot?: number[], firstOf?: number[]): Batch => ({
    count: slot?.length ?? unique.length,
    unique,
    uniqueCanonical: unique.map(() => undefined),
    slot,
    firstOf,
  });

  it("refuses an existing entry that holds another key, as corruption", async () => {
    const [other] = await stored(envelope("b"));
    const mine = envelope("a");
    const error = thrown(() =>
      appendResults(
        batchOf([mine]),
        [{ entry: other as LedgerEntry, status: "existing" }],
        (e) => e,
        site,
      ),
    );
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error).toMatchObject({
      code: "corruption",
      position: 1,
      message: `Damaged ledger data in entries of store.db at position 1: the entry the ledger found for key "a" holds key "b" and checksum ${other?.envelope.checksum}. It is not returned; see docs/runbook.md`,
    });
  });

  it("refuses an existing entry of the key with another checksum, as corruption", async () => {
    const [other] = await stored(envelope("a", 1));
    const mine = envelope("a", 2);
    const error = thrown(() =>
      appendResults(
        batchOf([mine]),
        [{ entry: other as LedgerEntry, status: "existing" }],
        (e) => e,
        site,
      ),
    );
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toContain(
      `the entry the ledger found for key "a" holds key "a" and checksum ${other?.envelope.checksum}`,
    );
  });

  it("refuses an existing entry with the checksum but another key, as corruption", async () => {
    const mine = envelope("a");
    const entry: LedgerEntry = {
      position: 3,
      appendedAt: "2026-01-01T00:00:00.000Z",
      envelope: { ...mine, key: "b" },
    };
    const error = thrown(() =>
      appendResults(batchOf([mine]), [{ entry, status: "existing" }], (e) => e, site),
    );
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error).toMatchObject({ position: 3 });
  });

  it("checks an existing entry once, and answers with the checked entry for each repeat", async () => {
    const a = envelope("a");
    const [entry] = await stored(a);
    const copy = { ...(entry as LedgerEntry) };
    const checks: LedgerEntry[] = [];
    const result = appendResults(
      batchOf([a], [0, 0, 0], [0]),
      [{ entry: entry as LedgerEntry, status: "existing" }],
      (e) => {
        checks.push(e);
        return copy;
      },
      site,
    );
    expect(checks).toEqual([entry]);
    expect(result.results).toHaveLength(3);
    for (const r of result.results) {
      expect(r.status).toBe("existing");
      expect(r.entry).toBe(copy);
    }
    expect(result.appended).toBe(0);
    expect(result.existing).toBe(3);
  });

  it("checks existing entries of a batch without repeats, and keeps appended ones as given", async () => {
    const a = envelope("a");
    const b = envelope("b");
    const [ea, eb] = await stored(a, b);
    const checks: LedgerEntry[] = [];
    const appended: AppendedEntry = { entry: eb as LedgerEntry, status: "appended" };
    const result = appendResults(
      batchOf([a, b]),
      [{ entry: ea as LedgerEntry, status: "existing" }, appended],
      (e) => {
        checks.push(e);
        return e;
      },
      site,
    );
    expect(checks).toEqual([ea]);
    expect(result.results[0]).toEqual({ entry: ea, status: "existing" });
    expect(result.results[1]).toBe(appended);
    expect(result.results.map((r) => r.status)).toEqual(["existing", "appended"]);
  });
});

/** A MemoryLedger whose audit appends can be made to go stale or fail, counting calls. */
class FlakyAudit extends MemoryLedger {
  appends = 0;
  scans = 0;
  /** Appends that see a head that is not the log's (another writer, as it were). */
  stale = 0;
  /** Appends that throw this. */
  failing: unknown[] = [];

  protected override async _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    this.appends++;
    if (this.failing.length > 0) throw this.failing.shift();
    if (this.stale > 0) {
      this.stale--;
      make({ index: 999, hash: "e".repeat(64) });
    }
    return super._appendAudit(make);
  }

  protected override async *_scanAudit(): AsyncIterable<AuditRecord> {
    this.scans++;
    yield* super._scanAudit();
  }
}

describe("AuditWriter", () => {
  const intent = { actor: "r", action: "replay", reason: "i", phase: "intent" } as const;
  const outcome = (of: number) =>
    ({ actor: "r", action: "replay", reason: "o", phase: "outcome", intent: of }) as const;

  it("tries an outcome against a stale set 8 times, then throws serialization_failure", async () => {
    const ledger = new FlakyAudit(CLOCK);
    const open = await ledger.appendAudit(intent);
    ledger.appends = 0;
    ledger.stale = 8;
    const error = await rejected(() => ledger.appendAudit(outcome(open.index)));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({ code: "serialization_failure" });
    expect(ledger.appends).toBe(8);
    // Nothing of it is kept; the intent is still open and an outcome settles it.
    const settled = await ledger.appendAudit(outcome(open.index));
    expect(settled.index).toBe(2);
  });

  it("succeeds when the log settles before the last try", async () => {
    const ledger = new FlakyAudit(CLOCK);
    const open = await ledger.appendAudit(intent);
    ledger.appends = 0;
    ledger.stale = 7;
    const record = await ledger.appendAudit(outcome(open.index));
    expect(record).toMatchObject({ index: 2, phase: "outcome", intent: 1 });
    expect(ledger.appends).toBe(8);
  });

  it("throws any other failure at once, without trying again", async () => {
    const ledger = new FlakyAudit(CLOCK);
    const open = await ledger.appendAudit(intent);
    ledger.appends = 0;
    const boom = new Error("disk full");
    ledger.failing = [boom];
    const error = await rejected(() => ledger.appendAudit(outcome(open.index)));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({ code: "storage_error", cause: boom });
    expect(ledger.appends).toBe(1);
    ledger.failing = [new Error("again")];
    await expect(
      ledger.appendAudit({ actor: "a", action: "note", reason: "n" }),
    ).rejects.toMatchObject({ code: "storage_error" });
    expect(ledger.appends).toBe(2);
  });

  it("reads the log only for an outcome, when its set is not loaded", async () => {
    const ledger = new FlakyAudit(CLOCK);
    await ledger.appendAudit({ actor: "a", action: "note", reason: "n" });
    const first = await ledger.appendAudit(intent);
    const second = await ledger.appendAudit(intent);
    expect(ledger.scans).toBe(0);
    await ledger.appendAudit(outcome(first.index));
    expect(ledger.scans).toBe(1);
    await ledger.appendAudit({ actor: "a", action: "note", reason: "n" });
    await ledger.appendAudit(outcome(second.index));
    expect(ledger.scans).toBe(1);
  });
});
