import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  type Claim,
  createSealer,
  type Envelope,
  FileLedger,
  isSinkproofError,
  type Ledger,
  MemoryLedger,
  type ReceiptStatus,
} from "../../src/index.js";
import { createManualClock, type ManualClock } from "../../src/testing/index.js";

/**
 * Model-based test: random sequences of ledger commands run against a real ledger and
 * against a plain model of what the ledger must do; after every command both must agree.
 */

const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];
const SINKS = ["warehouse", "search"];

interface Model {
  entries: Array<{ key: string; checksum: string; id: string }>;
  receipts: Map<string, ReceiptStatus[]>;
  watermarks: Map<string, number>;
  claims: Map<string, { claim: Claim; expiresAt: number }>;
}

interface Real {
  ledger: Ledger;
  readonly clock: ManualClock;
  readonly reopen: (() => Promise<Ledger>) | undefined;
  readonly seal: ReturnType<typeof createSealer>;
}

const pair = (sink: string, key: string) => `${sink}\u0000${key}`;
const FINAL = new Set(["written", "duplicate", "replayed", "conflict", "rejected"]);

function envelopeOf(r: Real, key: string, variant: number): Envelope {
  return r.seal({
    producer: "model",
    stream: "s",
    seq: KEYS.indexOf(key),
    key,
    type: "t",
    schema: { name: "t", version: 1 },
    payload: { key, variant },
  });
}

async function expectAgreement(m: Model, r: Real): Promise<void> {
  expect(await r.ledger.head()).toBe(m.entries.length);
  for (const [index, entry] of m.entries.entries()) {
    const found = await r.ledger.get(entry.key);
    expect(found?.position).toBe(index + 1);
    expect(found?.envelope.checksum).toBe(entry.checksum);
  }
  for (const sink of SINKS) {
    expect(await r.ledger.getWatermark(sink)).toBe(m.watermarks.get(sink) ?? 0);
    for (const key of KEYS) {
      const statuses = (await r.ledger.getReceipts(sink, key)).map((x) => x.status);
      expect(statuses).toEqual(m.receipts.get(pair(sink, key)) ?? []);
    }
  }
}

class AppendCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly batch: ReadonlyArray<[key: string, variant: number]>) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const envelopes = this.batch.map(([key, variant]) => envelopeOf(r, key, variant));
    // The model: a key already present (or earlier in the batch) with another checksum,
    // or a repeated key with a different payload, refuses the whole batch.
    const known = new Map(m.entries.map((e) => [e.key, e.checksum]));
    let conflict = false;
    const added: Model["entries"] = [];
    for (const e of envelopes) {
      const checksum = known.get(e.key);
      if (checksum === undefined) {
        known.set(e.key, e.checksum);
        added.push({ key: e.key, checksum: e.checksum, id: e.id });
      } else if (checksum !== e.checksum) conflict = true;
    }
    if (conflict) {
      await expect(r.ledger.append(envelopes)).rejects.toSatisfy(
        (error: unknown) => isSinkproofError(error) && error.code === "idempotency_conflict",
      );
    } else {
      const result = await r.ledger.append(envelopes);
      expect(result.appended).toBe(added.length);
      m.entries.push(...added);
    }
    await expectAgreement(m, r);
  }
  toString(): string {
    return `append(${this.batch.map(([k, v]) => `${k}:${v}`).join(",")})`;
  }
}

class ReceiptCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly sink: string,
    readonly key: string,
    readonly status: ReceiptStatus,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const index = m.entries.findIndex((e) => e.key === this.key);
    const entry = m.entries[index];
    const receipt = {
      sink: this.sink,
      key: this.key,
      id: entry?.id ?? "01ARYZ6S41TSV4RRFFQ69G5FAV",
      position: index + 1 || 1,
      status: this.status,
      checksum: (entry?.checksum ?? "xxh64:0000000000000000") as `xxh64:${string}`,
      attempt: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:00.001Z",
    };
    if (entry === undefined) {
      await expect(r.ledger.putReceipt(receipt)).rejects.toSatisfy(
        (error: unknown) => isSinkproofError(error) && error.code === "not_found",
      );
    } else {
      await r.ledger.putReceipt(receipt);
      const id = pair(this.sink, this.key);
      m.receipts.set(id, [...(m.receipts.get(id) ?? []), this.status]);
    }
    await expectAgreement(m, r);
  }
  toString(): string {
    return `receipt(${this.sink},${this.key},${this.status})`;
  }
}

class ClaimCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly sink: string,
    readonly key: string,
    readonly ttlMs: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = pair(this.sink, this.key);
    const now = r.clock.now();
    const done = (m.receipts.get(id) ?? []).some((s) => FINAL.has(s));
    const live = m.claims.get(id);
    const result = await r.ledger.claim(this.sink, this.key, { owner: "model", ttlMs: this.ttlMs });
    if (done) expect(result.status).toBe("done");
    else if (live !== undefined && live.expiresAt > now) expect(result.status).toBe("held");
    else {
      expect(result.status).toBe("acquired");
      if (result.status === "acquired")
        m.claims.set(id, { claim: result.claim, expiresAt: now + this.ttlMs });
    }
  }
  toString(): string {
    return `claim(${this.sink},${this.key},${this.ttlMs})`;
  }
}

class ReleaseCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly sink: string,
    readonly key: string,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.claims.has(pair(this.sink, this.key));
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = pair(this.sink, this.key);
    const held = m.claims.get(id);
    if (held === undefined) return;
    expect(await r.ledger.releaseClaim(held.claim)).toBe(true);
    m.claims.delete(id);
  }
  toString(): string {
    return `release(${this.sink},${this.key})`;
  }
}

class WatermarkCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly sink: string,
    readonly position: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    if (this.position > m.entries.length) {
      await expect(r.ledger.advanceWatermark(this.sink, this.position)).rejects.toSatisfy(
        (error: unknown) => isSinkproofError(error) && error.code === "invalid_argument",
      );
    } else {
      const next = Math.max(m.watermarks.get(this.sink) ?? 0, this.position);
      expect(await r.ledger.advanceWatermark(this.sink, this.position)).toBe(next);
      m.watermarks.set(this.sink, next);
    }
    await expectAgreement(m, r);
  }
  toString(): string {
    return `watermark(${this.sink},${this.position})`;
  }
}

class TickCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    r.clock.advance(this.ms);
  }
  toString(): string {
    return `tick(${this.ms})`;
  }
}

class ReopenCommand implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    if (r.reopen === undefined) return;
    r.ledger = await r.reopen();
    // Claims live in the process that held the ledger: a restart frees them.
    if (r.ledger.capabilities.claims === "process") m.claims.clear();
    await expectAgreement(m, r);
  }
  toString(): string {
    return "reopen";
  }
}

const key = fc.constantFrom(...KEYS);
const sink = fc.constantFrom(...SINKS);
const commands = (durable: boolean) => [
  fc
    .array(fc.tuple(key, fc.integer({ min: 0, max: 1 })), { minLength: 1, maxLength: 4 })
    .map((b) => new AppendCommand(b)),
  fc
    .tuple(sink, key, fc.constantFrom<ReceiptStatus>("written", "failed", "duplicate", "rejected"))
    .map(([s, k, st]) => new ReceiptCommand(s, k, st)),
  // TTLs and ticks sit on the expiry boundaries, where an off-by-one would show.
  fc.tuple(sink, key, fc.constantFrom(1000, 2000)).map(([s, k, t]) => new ClaimCommand(s, k, t)),
  fc.tuple(sink, key).map(([s, k]) => new ReleaseCommand(s, k)),
  fc.tuple(sink, fc.integer({ min: 0, max: 8 })).map(([s, p]) => new WatermarkCommand(s, p)),
  fc.constantFrom(1, 950, 999, 1000, 1001, 1999, 2000, 2001).map((ms) => new TickCommand(ms)),
  ...(durable ? [fc.constant(new ReopenCommand())] : []),
];

const root = mkdtempSync(join(tmpdir(), "sinkproof-model-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("ledgers against a model (fast-check, 200 runs each)", () => {
  it("MemoryLedger agrees with the model", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands(false), { maxCommands: 60, size: "medium" }),
        async (cmds) => {
          const clock = createManualClock();
          const real: Real = {
            ledger: new MemoryLedger({ clock: clock.now }),
            clock,
            reopen: undefined,
            seal: createSealer({ clock: clock.now }),
          };
          const model: Model = {
            entries: [],
            receipts: new Map(),
            watermarks: new Map(),
            claims: new Map(),
          };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await real.ledger.close();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("FileLedger agrees with the model, across reopens", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands(true), { maxCommands: 60, size: "medium" }),
        async (cmds) => {
          const clock = createManualClock();
          const dir = join(root, `run${run++}`);
          const options = { clock: clock.now, segmentBytes: 4096 };
          const real: Real = {
            ledger: await FileLedger.open(dir, options),
            clock,
            reopen: async () => {
              await real.ledger.close();
              return FileLedger.open(dir, options);
            },
            seal: createSealer({ clock: clock.now }),
          };
          const model: Model = {
            entries: [],
            receipts: new Map(),
            watermarks: new Map(),
            claims: new Map(),
          };
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
          } finally {
            await real.ledger.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  }, 300_000);
});
