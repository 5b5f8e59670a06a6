/**
 * The audit chain's behaviour pinned exactly, where its mutation run found it loose: the
 * errors (code, path, message) for a bad record, head or record list; the known-answer
 * hash of a record and of a chain, computed here from the documented canonical form with
 * node:crypto; the problems `verifyAuditChain` reports for each kind of break (an edited
 * field, a removed, reordered or duplicated record, a wrong prevHash, an index that is not
 * a number, a truncated log, a moved head), and for the intent/outcome rule; and
 * `AuditIntents`: an outcome is checked only against a set that is current, only intents
 * open, only outcomes settle, a record that is not current drops the set, and the set's
 * head follows every record it admits.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type AuditInput,
  type AuditRecord,
  InvalidArgumentError,
  isTransientLedgerError,
  LedgerError,
} from "../../src/index.js";
import {
  AuditIntents,
  auditHash,
  GENESIS_HASH,
  nextAuditRecord,
  StaleAuditState,
  verifyAuditChain,
} from "../../src/ledger/audit.js";
import { auditChain, rejected, thrown } from "../helpers.js";

const note: AuditInput = { actor: "ops", action: "note", reason: "n" };
const intent: AuditInput = { actor: "r", action: "replay", reason: "i", phase: "intent" };
const outcome = (of: unknown): AuditInput =>
  ({ actor: "r", action: "replay", reason: "o", phase: "outcome", intent: of }) as AuditInput;

const TIME = "2026-01-01T00:00:00.000Z";
const OTHER_HASH = "f".repeat(64);

/** A record at `index` whose prevHash is `prevHash`, hashed correctly. */
function recordAt(input: AuditInput, index: number, prevHash: string = GENESIS_HASH): AuditRecord {
  return nextAuditRecord(
    input,
    index === 1 ? undefined : { index: index - 1, hash: prevHash },
    TIME,
  );
}

/** The same record with some fields changed and its hash recomputed (a forger's rebuild). */
function rehashed(record: AuditRecord, change: Record<string, unknown>): AuditRecord {
  const { hash: _old, ...rest } = { ...record, ...change } as AuditRecord;
  return { ...rest, hash: auditHash(rest) } as AuditRecord;
}

const headOf = (r: AuditRecord) => ({ index: r.index, hash: r.hash });

function expectInvalid(error: unknown, path: string, message: string): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(error).toMatchObject({ code: "invalid_argument", path, message });
}

async function problemsOf(
  records: Iterable<unknown>,
  head?: { index: number; hash: string },
): Promise<unknown> {
  const result = await verifyAuditChain(records as Iterable<AuditRecord>, head);
  return result.ok ? [] : result.problems;
}

describe("auditHash: arguments", () => {
  it("refuses what is not an object, naming the argument and what it got", () => {
    for (const [value, got] of [
      [null, "null"],
      [5, "number"],
      ["abc", "string"],
      [undefined, "undefined"],
    ] as const) {
      expectInvalid(
        thrown(() => auditHash(value as never)),
        "record",
        `record must be an audit record, got ${got}`,
      );
    }
  });

  it("a record whose field throws when read is an invalid argument at `record`", () => {
    const record = {
      ...recordAt(note, 1),
      get reason(): string {
        throw new Error("boom");
      },
    };
    expectInvalid(
      thrown(() => auditHash(record)),
      "record",
      "record could not be read: boom",
    );
  });
});

describe("auditHash: known answers, from the documented canonical form", () => {
  const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

  it("GENESIS_HASH is 64 zeros", () => {
    expect(GENESIS_HASH).toBe("0000000000000000000000000000000000000000000000000000000000000000");
  });

  it("a record hashes as SHA-256 of its RFC 8785 form without `hash` (keys sorted, no spaces)", () => {
    const first = recordAt({ actor: "ops", action: "note", reason: "é n" }, 1);
    const canonical = `{"action":"note","actor":"ops","index":1,"prevHash":"${GENESIS_HASH}","reason":"é n","time":"${TIME}"}`;
    expect(first.hash).toBe(sha256(canonical));
    expect(auditHash(first)).toBe(first.hash);
    // `hash` itself is left out, whatever it holds.
    expect(auditHash({ ...first, hash: "anything" } as AuditRecord)).toBe(sha256(canonical));
  });

  it("a chain links each record to the previous one's hash, optional fields sorted in", () => {
    const [a, b] = auditChain([
      {
        actor: "r",
        action: "replay",
        reason: "i",
        phase: "intent",
        subject: { sink: "s", key: "k" },
      },
      { actor: "r", action: "replay", reason: "o", phase: "outcome", intent: 1, after: null },
    ]);
    const aText = `{"action":"replay","actor":"r","index":1,"phase":"intent","prevHash":"${GENESIS_HASH}","reason":"i","subject":{"key":"k","sink":"s"},"time":"2026-01-01T00:00:00.000Z"}`;
    const aHash = sha256(aText);
    const bText = `{"action":"replay","actor":"r","after":null,"index":2,"intent":1,"phase":"outcome","prevHash":"${aHash}","reason":"o","time":"2026-01-01T00:00:01.000Z"}`;
    expect(a).toEqual({ ...JSON.parse(aText), hash: aHash });
    expect(b).toEqual({ ...JSON.parse(bText), hash: sha256(bText) });
  });
});

describe("verifyAuditChain: arguments", () => {
  it("refuses records that are not an iterable object", async () => {
    for (const [value, got] of [
      [5, "number"],
      ["abc", "string"],
      [null, "null"],
      [{}, "object"],
    ] as const) {
      expectInvalid(
        await rejected(() => verifyAuditChain(value as never)),
        "records",
        `records must be an iterable of audit records, got ${got}`,
      );
    }
  });

  it("an iterator that throws is an invalid argument at `records`; a sinkproof error passes through", async () => {
    function* failing(error: unknown): Iterable<AuditRecord> {
      yield recordAt(note, 1);
      throw error;
    }
    expectInvalid(
      await rejected(() => verifyAuditChain(failing(new Error("disk gone")))),
      "records",
      "records could not be read: disk gone",
    );
    const own = new LedgerError("unavailable", "the ledger is down");
    expect(await rejected(() => verifyAuditChain(failing(own)))).toBe(own);
  });

  it("checks the head: each field's rule, at head.<field>", async () => {
    const records = auditChain([note]);
    const hash = records[0]?.hash as string;
    const bad = async (head: unknown) =>
      rejected(() => verifyAuditChain(records, head as { index: number; hash: string }));
    for (const index of [0, -1, 1.5, Number.NaN, 2 ** 53, "1"]) {
      const shown = typeof index === "string" ? JSON.stringify(index) : String(index);
      expectInvalid(
        await bad({ index, hash }),
        "head.index",
        `head.index must be a positive integer, got ${shown}`,
      );
    }
    for (const wrong of [
      5,
      [hash], // a non-string whose string form would pass the pattern
      hash.toUpperCase(),
      hash.slice(1),
      `${hash}0`,
      `x${hash}`,
      `${hash}x`,
    ]) {
      expectInvalid(
        await bad({ index: 1, hash: wrong }),
        "head.hash",
        "head.hash must be 64 lowercase hex digits",
      );
    }
    expectInvalid(
      await bad({ index: 1, hash, extra: true }),
      "head.extra",
      "head.extra is not an audit head field (known: index, hash)",
    );
    expectInvalid(
      await bad({ index: 1, hahs: hash }),
      "head.hahs",
      "head.hahs is not an audit head field; did you mean hash?",
    );
    await expect(verifyAuditChain(records, { index: 1, hash })).resolves.toMatchObject({
      ok: true,
    });
  });
});

describe("verifyAuditChain: each kind of break, reported exactly", () => {
  const chain = (n: number) => auditChain(Array.from({ length: n }, () => note));

  it("a changed field: `edited` at that record, and nothing else", async () => {
    const records = chain(3);
    const edited = records.map((r) => (r.index === 2 ? { ...r, reason: "changed" } : r));
    expect(await problemsOf(edited)).toEqual([
      { index: 2, code: "edited", message: "record 2: hash does not match its content" },
    ]);
  });

  it("a record whose content cannot be hashed is `edited`, not a throw", async () => {
    const records = chain(2);
    const odd = records.map((r) => (r.index === 2 ? { ...r, details: () => 1 } : r));
    expect(await problemsOf(odd)).toEqual([
      { index: 2, code: "edited", message: "record 2: hash does not match its content" },
    ]);
  });

  it("removed records: `removed`, naming the range, and no broken link on top", async () => {
    const records = chain(5);
    expect(await problemsOf(records.filter((r) => r.index !== 2))).toEqual([
      { index: 3, code: "removed", message: "records 2 to 2 are missing" },
    ]);
    expect(await problemsOf(records.filter((r) => r.index !== 2 && r.index !== 3))).toEqual([
      { index: 4, code: "removed", message: "records 2 to 3 are missing" },
    ]);
  });

  it("a reordered record: the gap, the step back, and the link after it", async () => {
    const [r1, r2, r3, r4] = chain(4);
    expect(await problemsOf([r1, r3, r2, r4])).toEqual([
      { index: 3, code: "removed", message: "records 2 to 2 are missing" },
      { index: 2, code: "reordered", message: "record 2 comes after record 3" },
      {
        index: 4,
        code: "broken_link",
        message: "record 4: prevHash is not the previous record's hash",
      },
    ]);
  });

  it("a record stored twice: `inserted`", async () => {
    const [r1, r2, r3] = chain(3);
    expect(await problemsOf([r1, r2, r2, r3])).toEqual([
      { index: 2, code: "inserted", message: "record 2 appears twice" },
    ]);
  });

  it("a wrong prevHash, hashes recomputed: `broken_link` only", async () => {
    const r1 = recordAt(note, 1);
    const r2 = recordAt(note, 2, OTHER_HASH);
    const r3 = recordAt(note, 3, r2.hash);
    expect(await problemsOf([r1, r2, r3])).toEqual([
      {
        index: 2,
        code: "broken_link",
        message: "record 2: prevHash is not the previous record's hash",
      },
    ]);
  });

  it("an index that is not a number is reported as NaN, not as the value stored", async () => {
    const [r1, r2] = chain(2) as [AuditRecord, AuditRecord];
    const text = rehashed(r2, { index: "2" });
    expect(await problemsOf([r1, text])).toEqual([
      { index: Number.NaN, code: "reordered", message: "record NaN comes after record 1" },
    ]);
  });

  it("an entry that is not a record (or cannot be read) is `edited` at the expected index", async () => {
    const [r1, r2] = chain(2) as [AuditRecord, AuditRecord];
    const unreadable = {
      get index(): number {
        throw new Error("trap");
      },
    };
    const expected = [
      {
        index: 2,
        code: "edited",
        message: "record 2 of the log is not an audit record (or cannot be read)",
      },
    ];
    for (const entry of [5, "abc", null, [r1], unreadable]) {
      expect(await problemsOf([r1, entry, r2])).toEqual(expected);
    }
    // A revoked Proxy, handed over by an async iterator that does not await its values
    // (awaiting one reads its `then`, which throws before the verifier sees it).
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const entries: unknown[] = [r1, revoked.proxy, r2];
    const direct: AsyncIterable<AuditRecord> = {
      [Symbol.asyncIterator]: () => {
        let at = 0;
        return {
          next: async () =>
            at < entries.length
              ? { done: false, value: entries[at++] as AuditRecord }
              : { done: true, value: undefined },
        };
      },
    };
    const result = await verifyAuditChain(direct);
    expect(result.ok ? [] : result.problems).toEqual(expected);
  });

  it("a known head inside the log is fine; past its end is `truncated`; another record there is `head_mismatch`", async () => {
    const records = chain(3);
    const [r1, r2] = records as [AuditRecord, AuditRecord];
    await expect(verifyAuditChain(records, headOf(r2))).resolves.toMatchObject({
      ok: true,
      count: 3,
      head: headOf(records[2] as AuditRecord),
    });
    await expect(verifyAuditChain(records, headOf(r1))).resolves.toMatchObject({ ok: true });
    expect(await problemsOf([], { index: 3, hash: OTHER_HASH })).toEqual([
      { index: 0, code: "truncated", message: "the log ends at record 0, before the known head 3" },
    ]);
    expect(await problemsOf([r1, r2], { index: 3, hash: OTHER_HASH })).toEqual([
      { index: 2, code: "truncated", message: "the log ends at record 2, before the known head 3" },
    ]);
    expect(await problemsOf(records, { index: 2, hash: OTHER_HASH })).toEqual([
      { index: 2, code: "head_mismatch", message: "record 2 is not the one known as head" },
    ]);
  });
});

describe("verifyAuditChain: intents and outcomes", () => {
  it("an intent with no outcome is interrupted, and the chain stays ok", async () => {
    const records = auditChain([intent, note]);
    const result = await verifyAuditChain(records);
    expect(result).toEqual({
      ok: true,
      count: 2,
      head: headOf(records[1] as AuditRecord),
      interrupted: [records[0]],
    });
  });

  it("an outcome with no intent, and a second outcome, are reported with their messages", async () => {
    expect(await problemsOf(auditChain([note, outcome(1)]))).toEqual([
      {
        index: 2,
        code: "unmatched_outcome",
        message: "record 2: an outcome for 1, which is not an earlier intent record",
      },
    ]);
    expect(await problemsOf(auditChain([intent, outcome(1), outcome(1)]))).toEqual([
      { index: 3, code: "settled_twice", message: "record 3: intent 1 already has an outcome" },
    ]);
  });

  it("an outcome settles only an intent stored before it with a lower index", async () => {
    // Stored order 1, 3, 2: record 2 names intent 3, which came first but is not earlier.
    const i1 = recordAt(intent, 1);
    const i3 = recordAt(intent, 3, OTHER_HASH);
    const o2 = recordAt(outcome(3), 2, i1.hash);
    const later = await verifyAuditChain([i1, i3, o2]);
    expect(later.interrupted.map((r) => r.index)).toEqual([1, 3]);
    expect(later.ok ? [] : later.problems.map((p) => [p.index, p.code])).toContainEqual([
      2,
      "unmatched_outcome",
    ]);
    // An outcome naming its own index, after an intent stored with that same index.
    const i2 = recordAt(intent, 2, i1.hash);
    const o2self = recordAt(outcome(2), 2, i2.hash);
    const self = await verifyAuditChain([i1, i2, o2self]);
    expect(self.interrupted.map((r) => r.index)).toEqual([1, 2]);
    expect(self.ok ? [] : self.problems.map((p) => [p.index, p.code])).toContainEqual([
      2,
      "unmatched_outcome",
    ]);
  });

  it("an outcome whose intent is not a number settles nothing, and is shown, not converted", async () => {
    const i1 = recordAt(intent, 1);
    const odd = { ...recordAt(note, 2, i1.hash), phase: "outcome", intent: Symbol("x") };
    const result = await verifyAuditChain([i1, odd] as AuditRecord[]);
    expect(result.interrupted).toEqual([i1]);
    expect(result.ok ? [] : result.problems).toEqual([
      {
        index: 2,
        code: "unmatched_outcome",
        message: "record 2: an outcome for a symbol, which is not an earlier intent record",
      },
      { index: 2, code: "edited", message: "record 2: hash does not match its content" },
    ]);
  });
});

describe("AuditIntents", () => {
  async function* scan(records: readonly AuditRecord[]): AsyncIterable<AuditRecord> {
    yield* records;
  }
  async function loaded(records: readonly AuditRecord[]): Promise<AuditIntents> {
    const intents = new AuditIntents();
    await intents.load(scan(records));
    return intents;
  }
  const expectStale = (run: () => unknown) => {
    const error = thrown(run);
    expect(error).toBeInstanceOf(StaleAuditState);
    expect(error).toMatchObject({
      code: "serialization_failure",
      message:
        "The audit log kept changing while an outcome was checked against its intents; try again",
    });
    expect(isTransientLedgerError(error)).toBe(true);
  };

  it("is not known until loaded; an outcome before that is stale", async () => {
    const intents = new AuditIntents();
    expect(intents.known).toBe(false);
    const i1 = recordAt(intent, 1);
    expectStale(() => intents.admit(recordAt(outcome(1), 2, i1.hash), headOf(i1)));
    await intents.load(scan([i1]));
    expect(intents.known).toBe(true);
  });

  it("from an empty log: admits an intent, moves its head, then settles it with an outcome", async () => {
    const intents = await loaded([]);
    const i1 = recordAt(intent, 1);
    expect(intents.admit(i1, undefined)).toBe(i1);
    expect(intents.known).toBe(true);
    const o2 = recordAt(outcome(1), 2, i1.hash);
    expect(intents.admit(o2, headOf(i1))).toBe(o2);
    // Settled: a second outcome for it is refused.
    const o3 = recordAt(outcome(1), 3, o2.hash);
    expectInvalid(
      thrown(() => intents.admit(o3, headOf(o2))),
      "input.intent",
      "input.intent record 1 is not an intent awaiting its outcome (it is not an intent, or it is settled already)",
    );
  });

  it("only an intent is opened: an outcome naming a note is refused", async () => {
    const intents = await loaded([]);
    const n1 = recordAt(note, 1);
    intents.admit(n1, undefined);
    expectInvalid(
      thrown(() => intents.admit(recordAt(outcome(1), 2, n1.hash), headOf(n1))),
      "input.intent",
      "input.intent record 1 is not an intent awaiting its outcome (it is not an intent, or it is settled already)",
    );
  });

  it("an outcome must name an earlier record", async () => {
    const i1 = recordAt(intent, 1);
    const intents = await loaded([i1]);
    for (const of of [2, 5]) {
      expectInvalid(
        thrown(() => intents.admit(recordAt(outcome(of), 2, i1.hash), headOf(i1))),
        "input.intent",
        `input.intent must be an earlier record than 2, got ${of}`,
      );
    }
  });

  it("load: only an outcome settles an intent (a note carrying `intent` does not)", async () => {
    const i1 = recordAt(intent, 1);
    const n2 = { ...recordAt(note, 2, i1.hash), intent: 1 };
    const intents = await loaded([i1, n2]);
    const o3 = recordAt(outcome(1), 3, n2.hash);
    expect(intents.admit(o3, headOf(n2))).toBe(o3);
  });

  it("an outcome is stale when the head read is not the one the set was built at", async () => {
    const i1 = recordAt(intent, 1);
    const o2 = recordAt(outcome(1), 2, i1.hash);
    for (const previous of [
      { index: 1, hash: OTHER_HASH }, // same index, another hash
      { index: 2, hash: i1.hash }, // same hash, another index
      undefined, // the log looks empty
    ]) {
      const intents = await loaded([i1]);
      expectStale(() => intents.admit(o2, previous));
    }
    // Built from an empty log, an outcome against a non-empty head is stale too.
    const empty = await loaded([]);
    expectStale(() => empty.admit(o2, headOf(i1)));
  });

  it("a record that is not current drops the set: the next outcome is stale", async () => {
    const i1 = recordAt(intent, 1);
    for (const previous of [{ index: 4, hash: OTHER_HASH }, undefined]) {
      const intents = await loaded([i1]);
      const n5 = recordAt(note, 5, OTHER_HASH);
      expect(intents.admit(n5, previous)).toBe(n5);
      expect(intents.known).toBe(false);
      expectStale(() => intents.admit(recordAt(outcome(1), 6, n5.hash), headOf(n5)));
    }
    // From an empty log, an intent against a non-empty head drops it as well.
    const empty = await loaded([]);
    const i2 = recordAt(intent, 2, i1.hash);
    expect(empty.admit(i2, headOf(i1))).toBe(i2);
    expect(empty.known).toBe(false);
  });

  it("forget drops the set", async () => {
    const i1 = recordAt(intent, 1);
    const intents = await loaded([i1]);
    intents.forget();
    expect(intents.known).toBe(false);
    expectStale(() => intents.admit(recordAt(outcome(1), 2, i1.hash), headOf(i1)));
  });
});
