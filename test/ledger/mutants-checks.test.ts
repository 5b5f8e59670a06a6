/**
 * Pins the argument checks of BaseLedger (base-checks.ts) and the errors it words
 * (base-errors.ts): exact code, path, message and context. A custom ledger built straight
 * on BaseLedger (examples/custom-ledger.ts) is used where MemoryLedger's own option reading
 * would answer first.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsonFileLedger } from "../../examples/custom-ledger.js";
import { MAX_BYTES_LIMIT, MAX_DEPTH_LIMIT } from "../../src/canonical/canonicalize.js";
import { ENVELOPE_LIMITS } from "../../src/envelope/schema.js";
import {
  type AuditRecord,
  type Claim,
  InvalidArgumentError,
  LedgerError,
  MemoryLedger,
  seal,
} from "../../src/index.js";
import { MAX_OWNER, MAX_SINK_NAME } from "../../src/ledger/validate.js";
import { createManualClock } from "../../src/testing/index.js";

const MAX_TIME_MS = 253_402_300_799_999;
const nowhere = join(tmpdir(), "sinkproof-mutants-checks-never-written.json");

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("did not throw");
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("did not reject");
}

function invalid(error: unknown, path: string, message: string): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(error).toMatchObject({ code: "invalid_argument", path, message });
}

const nameRule = (max: number) =>
  `must be 1 to ${max} characters without control characters, noncharacters or lone surrogates`;

describe("checkLedgerOptions through a ledger built on BaseLedger", () => {
  const make = (options: unknown) => () => new JsonFileLedger(nowhere, options as never);

  it("refuses options that are not an object, at options", () => {
    invalid(thrown(make(null)), "options", "options must be an object, got null");
    invalid(thrown(make(5)), "options", "options must be an object, got number");
    invalid(thrown(make("x")), "options", "options must be an object, got string");
  });

  it("checks the clock given", () => {
    invalid(
      thrown(make({ clock: "now" })),
      "options.clock",
      "options.clock must be a function, got string",
    );
  });

  it("checks maxPayloadBytes itself, naming it as spelled", () => {
    invalid(
      thrown(make({ maxPayloadBytes: 0 })),
      "options.maxPayloadBytes",
      `options.maxPayloadBytes must be an integer from 1 to ${MAX_BYTES_LIMIT}, got number`,
    );
  });

  it("checks maxDepth with its own message", () => {
    invalid(
      thrown(make({ maxDepth: 0 })),
      "options.maxDepth",
      `options.maxDepth must be an integer from 1 to ${MAX_DEPTH_LIMIT}, got number`,
    );
  });
});

describe("the clock's answer", () => {
  const input = { reason: "r", actor: "a" };
  const at = (value: unknown) => {
    let current: unknown = value;
    const ledger = new MemoryLedger({ clock: () => current as number });
    return { ledger, set: (v: unknown) => (current = v) };
  };
  const rule = "options.clock() must return ms since the epoch, up to the end of year 9999, got";

  it("accepts the first and the last ms of years 1970 to 9999", async () => {
    const { ledger, set } = at(0);
    expect((await ledger.freezeSink("s", input)).since).toBe("1970-01-01T00:00:00.000Z");
    set(MAX_TIME_MS);
    expect((await ledger.freezeSink("t", input)).since).toBe("9999-12-31T23:59:59.999Z");
  });

  it("refuses anything else at options.clock()", async () => {
    for (const [value, shown] of [
      [-1, "-1"],
      [MAX_TIME_MS + 1, String(MAX_TIME_MS + 1)],
      [Number.NaN, "NaN"],
      [Number.POSITIVE_INFINITY, "Infinity"],
      ["5", '"5"'],
    ] as const) {
      const { ledger } = at(value);
      invalid(await rejected(ledger.freezeSink("s", input)), "options.clock()", `${rule} ${shown}`);
    }
  });
});

describe("claim options", () => {
  it("are required", async () => {
    const ledger = new MemoryLedger();
    invalid(
      await rejected(ledger.claim("s", "k", undefined as never)),
      "options",
      "options must be an object, got undefined",
    );
  });

  it("name owner and replay by their paths", async () => {
    const ledger = new MemoryLedger();
    invalid(
      await rejected(ledger.claim("s", "k", { owner: "", ttlMs: 1000 })),
      "options.owner",
      `options.owner ${nameRule(MAX_OWNER)}, got string`,
    );
    invalid(
      await rejected(ledger.claim("s", "k", { owner: "a", ttlMs: 1000, replay: "yes" as never })),
      "options.replay",
      "options.replay must be a boolean, got string",
    );
  });
});

describe("a claim handed back", () => {
  async function held(): Promise<{ ledger: MemoryLedger; claim: Claim }> {
    const ledger = new MemoryLedger();
    const result = await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 1000 });
    if (result.status !== "acquired") throw new Error("not acquired");
    return { ledger, claim: result.claim };
  }

  it("must be an object", async () => {
    const { ledger } = await held();
    invalid(
      await rejected(ledger.releaseClaim(null as never)),
      "claim",
      "claim must be a claim, got null",
    );
    invalid(
      await rejected(ledger.renewClaim(7 as never, 1000)),
      "claim",
      "claim must be a claim, got number",
    );
  });

  it("has only claim fields", async () => {
    const { ledger, claim } = await held();
    const error = await rejected(ledger.releaseClaim({ ...claim, bogus: 1 } as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ path: "claim.bogus" });
    expect((error as Error).message).toMatch(/^claim\.bogus is not a claim field[;( ]/);
  });

  it("is checked field by field, each at its path", async () => {
    const { ledger, claim } = await held();
    const bad = async (fields: object) =>
      rejected(ledger.releaseClaim({ ...claim, ...fields } as never));
    invalid(
      await bad({ sink: "" }),
      "claim.sink",
      `claim.sink ${nameRule(MAX_SINK_NAME)}, got string`,
    );
    invalid(
      await bad({ key: "" }),
      "claim.key",
      `claim.key ${nameRule(ENVELOPE_LIMITS.key)}, got string`,
    );
    invalid(
      await bad({ owner: "" }),
      "claim.owner",
      `claim.owner ${nameRule(MAX_OWNER)}, got string`,
    );
    const token = "claim.token must be the token `claim` returned";
    invalid(await bad({ token: 5 }), "claim.token", token);
    invalid(await bad({ token: null }), "claim.token", token);
    invalid(await bad({ token: "" }), "claim.token", token);
    invalid(await bad({ token: "t".repeat(65) }), "claim.token", token);
    invalid(
      await bad({ expiresAt: Number.NaN }),
      "claim.expiresAt",
      "claim.expiresAt must be a number of ms, got number",
    );
    invalid(
      await bad({ expiresAt: "1" }),
      "claim.expiresAt",
      "claim.expiresAt must be a number of ms, got string",
    );
    invalid(
      await bad({ fencingToken: 0 }),
      "claim.fencingToken",
      "claim.fencingToken must be the fencing token `claim` returned",
    );
  });

  it("with a token of 64 characters is a claim, just not the one held", async () => {
    const { ledger, claim } = await held();
    expect(await ledger.releaseClaim({ ...claim, token: "t".repeat(64) })).toBe(false);
    expect(await ledger.releaseClaim(claim)).toBe(true);
  });

  it("renewed after release is claim_lost, naming key and sink", async () => {
    const { ledger, claim } = await held();
    expect(await ledger.releaseClaim(claim)).toBe(true);
    const error = await rejected(ledger.renewClaim(claim, 1000));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "claim_lost",
      message: 'The claim on "k1" at warehouse was taken over or released',
      key: "k1",
      sink: "warehouse",
      position: undefined,
    });
  });
});

describe("errors BaseLedger words", () => {
  const envelope = seal({
    producer: "p",
    seq: 0,
    type: "t",
    schema: { name: "t", version: 1 },
    payload: { x: 1 },
    key: "k1",
  });

  async function appended(ledger: MemoryLedger) {
    const { results } = await ledger.append([envelope]);
    const entry = results[0]?.entry;
    if (entry === undefined) throw new Error("not appended");
    return entry;
  }

  const receipt = (fields: object) => ({
    sink: "warehouse",
    key: envelope.key,
    id: envelope.id,
    position: 1,
    status: "written" as const,
    checksum: envelope.checksum,
    attempt: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:00.010Z",
    ...fields,
  });

  it("a receipt without its entry is not_found", async () => {
    const ledger = new MemoryLedger();
    await appended(ledger);
    const error = await rejected(ledger.putReceipt(receipt({ key: "missing", position: 1 })));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "not_found",
      message: `No entry with key "missing", id ${envelope.id} at position 1: a receipt must refer to an entry`,
      key: "missing",
      position: 1,
      sink: "warehouse",
    });
  });

  it("a final receipt under a claim taken over is fenced", async () => {
    const clock = createManualClock();
    const ledger = new MemoryLedger({ clock: clock.now });
    await appended(ledger);
    const old = await ledger.claim("warehouse", envelope.key, { owner: "a", ttlMs: 1000 });
    if (old.status !== "acquired") throw new Error("not acquired");
    clock.advance(1000);
    const current = await ledger.claim("warehouse", envelope.key, { owner: "b", ttlMs: 1000 });
    expect(current.status).toBe("acquired");
    const token = old.claim.fencingToken;
    const error = await rejected(ledger.putReceipt(receipt({ fencingToken: token })));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "fenced",
      message: `The claim with fencing token ${token} on "k1" at warehouse is not held now (taken over by a newer holder, released, or never given): this written receipt does not count`,
      key: "k1",
      position: 1,
      sink: "warehouse",
    });
  });

  it("a watermark past the head is an InvalidArgumentError at position", async () => {
    const ledger = new MemoryLedger();
    const error = await rejected(ledger.advanceWatermark("warehouse", 5));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({
      code: "invalid_argument",
      message: "position 5 is past the head 0",
      path: "position",
      sink: "warehouse",
      position: 5,
    });
  });

  it("an adapter's failure is storage_error with the failure as its cause", async () => {
    const boom = new Error("disk gone");
    class Failing extends MemoryLedger {
      protected override async _head(): Promise<number> {
        throw boom;
      }
    }
    const error = await rejected(new Failing().advanceWatermark("warehouse", 0));
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "storage_error",
      message: "Ledger storage failed: Error: disk gone",
    });
    expect((error as Error).cause).toBe(boom);
  });

  it("an iterable that fails to open is storage_error with that failure as its cause", async () => {
    const boom = new Error("no audit table");
    class Failing extends MemoryLedger {
      protected override _scanAudit(): AsyncIterable<AuditRecord> {
        throw boom;
      }
    }
    const error = await rejected(
      (async () => {
        for await (const _ of new Failing().scanAudit()) {
          // nothing
        }
      })(),
    );
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "storage_error",
      message: "Ledger storage failed: Error: no audit table",
    });
    expect((error as Error).cause).toBe(boom);
  });

  it("a failing close is storage_error; a sinkproof error from close passes as it is", async () => {
    const boom = new Error("fd lost");
    class Failing extends MemoryLedger {
      protected override async _close(): Promise<void> {
        throw boom;
      }
    }
    const error = await rejected(new Failing().close());
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({
      code: "storage_error",
      message: "Closing the ledger failed: Error: fd lost",
    });
    expect((error as Error).cause).toBe(boom);

    const own = new LedgerError("unavailable", "gone away");
    class Typed extends MemoryLedger {
      protected override async _close(): Promise<void> {
        throw own;
      }
    }
    expect(await rejected(new Typed().close())).toBe(own);
  });
});
