/**
 * `guard.deliverMany` and the `writeBatch` option: one ledger call of each kind per batch,
 * the same receipts a `deliver` of each would give, per-key failures retried or failed,
 * claims never left held, and every bad answer a typed error with nothing half-written.
 */
import { describe, expect, it } from "vitest";
import {
  createSealer,
  DeliveryError,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  type Ledger,
  MemoryLedger,
  permanent,
  type SinkBatchWriter,
} from "../../src/index.js";
import { wrapLedger } from "../../src/testing/ledger-wrap.js";
import { guardWorld } from "./support.js";

/** The ledger, counting each method called through it. */
function counted(ledger: Ledger) {
  const calls: Record<string, number> = {};
  const wrapped = wrapLedger(
    () => ledger,
    (method, _args, invoke) => {
      calls[method] = (calls[method] ?? 0) + 1;
      return invoke();
    },
  );
  return { ledger: wrapped, calls };
}

async function appendN(world: ReturnType<typeof guardWorld>, n: number): Promise<Envelope[]> {
  const envelopes = Array.from({ length: n }, () => world.event());
  await world.ledger.append(envelopes);
  return envelopes;
}

const noSleep = { attempts: 3, sleep: async () => undefined };

describe("guard.deliverMany", () => {
  it("delivers a batch with one call of each kind, and the receipts deliver would give", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 100);
    const { ledger, calls } = counted(world.ledger);
    const rows = new Map<string, number>();
    const batches: number[] = [];
    const writeBatch: SinkBatchWriter = (batch, ctx) => {
      batches.push(batch.length);
      batch.forEach((e, i) => {
        expect(ctx.items[i]?.position).toBe(envelopes.indexOf(e as Envelope) + 1);
        rows.set(e.key, ctx.items[i]?.fencingToken as number);
      });
      return { offsets: { [batch[0]?.key as string]: "row-1" } };
    };
    const guard = guardSink({ name: "warehouse", ledger, writeBatch, clock: world.clock.now });
    const receipts = await guard.deliverMany(envelopes);
    expect(batches).toEqual([100]);
    expect(receipts.map((r) => r.status)).toEqual(Array(100).fill("written"));
    expect(receipts.map((r) => r.key)).toEqual(envelopes.map((e) => e.key));
    expect(receipts[0]?.sinkOffset).toBe("row-1");
    expect(receipts.every((r) => r.fencingToken === rows.get(r.key))).toBe(true);
    expect(calls).toMatchObject({
      getMany: 1,
      claimMany: 1,
      putReceipts: 1,
      releaseClaims: 1,
      advanceWatermark: 1,
    });
    expect(calls.claim ?? 0).toBe(0);
    expect(calls.putReceipt ?? 0).toBe(0);
    expect(await world.ledger.getWatermark("warehouse")).toBe(100);
    // Stored as given: each key has exactly the receipt returned.
    for (const receipt of receipts) {
      expect(await world.ledger.getReceipts("warehouse", receipt.key)).toEqual([receipt]);
    }
    // Delivered again: every key answers duplicate, nothing is written or stored.
    const again = await guard.deliverMany(envelopes);
    expect(again.map((r) => r.status)).toEqual(Array(100).fill("duplicate"));
    expect(batches).toEqual([100]);
    // The same receipt deliver gives for a duplicate.
    const single = await guard.deliver(envelopes[5] as Envelope);
    expect({ ...single, startedAt: "", finishedAt: "" }).toEqual({
      ...again[5],
      startedAt: "",
      finishedAt: "",
    });
  });

  it("retries the keys a batch writer failed with a retryable error, fails the permanent ones", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 5);
    const [, k1, , k3] = envelopes.map((e) => e.key);
    const calls: string[][] = [];
    const writeBatch: SinkBatchWriter = (batch, ctx) => {
      calls.push(batch.map((e) => e.key));
      expect(ctx.attempt).toBe(calls.length);
      const failed = [];
      if (ctx.attempt === 1) failed.push({ key: k1 as string, error: new Error("timeout") });
      failed.push({ key: k3 as string, error: permanent(new Error("mapping refused")) });
      return { failed: failed.filter((f) => batch.some((e) => e.key === f.key)) };
    };
    const guard = guardSink({ name: "es", ledger: world.ledger, writeBatch, retry: noSleep });
    const receipts = await guard.deliverMany(envelopes);
    expect(receipts.map((r) => [r.status, r.attempt])).toEqual([
      ["written", 1],
      ["written", 2],
      ["written", 1],
      ["failed", 1],
      ["written", 1],
    ]);
    expect(calls).toEqual([envelopes.map((e) => e.key), [k1]]);
    expect(receipts[3]?.error).toEqual({ code: "write_failed", message: "mapping refused" });
    // The watermark stops before the failed entry; the claims are all released.
    expect(await world.ledger.getWatermark("es")).toBe(3);
    const again = await world.ledger.claim("es", k3 as string, { owner: "x", ttlMs: 1000 });
    expect(again.status).toBe("acquired");
  });

  it("a batch writer that throws fails the whole call, retried while retryable", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 3);
    let n = 0;
    const writeBatch: SinkBatchWriter = () => {
      n++;
      if (n < 3) throw new Error("bulk endpoint 503");
    };
    const guard = guardSink({ name: "es", ledger: world.ledger, writeBatch, retry: noSleep });
    const receipts = await guard.deliverMany(envelopes);
    expect(receipts.map((r) => [r.status, r.attempt])).toEqual(Array(3).fill(["written", 3]));
    const failing = guardSink({
      name: "other",
      ledger: world.ledger,
      writeBatch: () => {
        throw new Error("down");
      },
      retry: noSleep,
    });
    const failed = await failing.deliverMany(envelopes);
    expect(failed.map((r) => [r.status, r.attempt, r.error?.message])).toEqual(
      Array(3).fill(["failed", 3, "down"]),
    );
    expect(await world.ledger.getWatermark("other")).toBe(0);
  });

  it("a batch writer's answer that is not one is a typed error; its items fail, no claim is left", async () => {
    for (const [answer, path] of [
      [42, "options.writeBatch()"],
      [[], "options.writeBatch()"],
      [{ failed: "k" }, "options.writeBatch().failed"],
      [{ failed: [{ key: "not-in-batch", error: 1 }] }, "options.writeBatch().failed[0].key"],
      [{ failed: [null] }, "options.writeBatch().failed[0]"],
      [{ offsets: { x: 1 } }, 'options.writeBatch().offsets["x"]'],
      [{ fialed: [] }, "options.writeBatch().fialed"],
      [
        new Proxy(
          {},
          {
            ownKeys() {
              throw new Error("trap");
            },
          },
        ),
        "options.writeBatch()",
      ],
    ] as const) {
      const world = guardWorld();
      const envelopes = await appendN(world, 2);
      const guard = guardSink({
        name: "s",
        ledger: world.ledger,
        writeBatch: () => answer as never,
        retry: noSleep,
      });
      const error = await guard.deliverMany(envelopes).catch((e: unknown) => e);
      expect(error, JSON.stringify(path)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
      for (const envelope of envelopes) {
        const stored = await world.ledger.getReceipts("s", envelope.key);
        expect(stored.map((r) => r.status)).toEqual(["failed"]);
        const claim = await world.ledger.claim("s", envelope.key, { owner: "x", ttlMs: 10 });
        expect(claim.status).toBe("acquired");
      }
      expect(await world.ledger.getWatermark("s")).toBe(0);
    }
  });

  it("refuses the whole batch before any claim when an envelope is not in the ledger as given", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 3);
    const stranger = world.event();
    const { ledger, calls } = counted(world.ledger);
    let written = 0;
    const guard = guardSink({
      name: "s",
      ledger,
      writeBatch: () => {
        written++;
      },
    });
    const error = await guard.deliverMany([...envelopes, stranger]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).code).toBe("not_in_ledger");
    const changed = {
      ...(envelopes[1] as Envelope),
      checksum: (envelopes[0] as Envelope).checksum,
    };
    const mismatch = await guard.deliverMany([changed]).catch((e: unknown) => e);
    expect((mismatch as DeliveryError).code).toBe("ledger_mismatch");
    expect(calls.claimMany ?? 0).toBe(0);
    expect(written).toBe(0);
    await guard.freeze("drift");
    const frozen = await guard.deliverMany(envelopes).catch((e: unknown) => e);
    expect((frozen as DeliveryError).code).toBe("sink_frozen");
    expect(written).toBe(0);
    // A replay passes a frozen sink.
    const replayed = await guard.deliverMany(envelopes, { replay: true });
    expect(replayed.map((r) => r.status)).toEqual(["replayed", "replayed", "replayed"]);
  });

  it("bad batches are typed errors at their path", async () => {
    const world = guardWorld();
    const [e1] = await appendN(world, 1);
    const guard = guardSink({ name: "s", ledger: world.ledger, write: () => undefined });
    const at = async (p: Promise<unknown>) => {
      const error = await p.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      return (error as InvalidArgumentError).path;
    };
    expect(await at(guard.deliverMany([]))).toBe("envelopes");
    expect(await at(guard.deliverMany("x" as never))).toBe("envelopes");
    expect(await at(guard.deliverMany([e1 as Envelope, 7 as never]))).toBe("envelopes[1]");
    expect(await at(guard.deliverMany([{ ...(e1 as Envelope), checksum: 5 } as never]))).toBe(
      "envelopes[0].checksum",
    );
    expect(await at(guard.deliverMany(Array(10_001).fill(e1) as never))).toBe("envelopes");
    expect(await at(guard.deliverMany([e1 as Envelope], { replya: true } as never))).toBe(
      "options.replya",
    );
    expect(() => guardSink({ name: "s", ledger: world.ledger, writeBatch: 3 as never })).toThrow(
      InvalidArgumentError,
    );
    expect(() => guardSink({ name: "s", ledger: world.ledger } as never)).toThrow(/options.write/);
  });

  it("writes a key given twice once; the repeat answers duplicate", async () => {
    const world = guardWorld();
    const [a, b] = await appendN(world, 2);
    const seen: string[] = [];
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      writeBatch: (batch) => {
        seen.push(...batch.map((e) => e.key));
      },
    });
    const receipts = await guard.deliverMany([a, b, a] as Envelope[]);
    expect(receipts.map((r) => r.status)).toEqual(["written", "written", "duplicate"]);
    expect(seen).toEqual([a?.key, b?.key]);
  });

  it("a key another deliverer holds waits for it, as deliver does", async () => {
    const world = guardWorld();
    const [a, b] = await appendN(world, 2);
    const other = await world.ledger.claim("s", (a as Envelope).key, {
      owner: "other",
      ttlMs: 60_000,
    });
    expect(other.status).toBe("acquired");
    const seen: string[] = [];
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      pollMs: 1,
      writeBatch: (batch) => {
        seen.push(...batch.map((e) => e.key));
      },
    });
    const waits: string[] = [];
    const delivering = guard.deliverMany([a, b] as Envelope[], {
      onWait: (wait) => waits.push(wait.owner),
    });
    // The other deliverer writes a and stores its receipt, then lets go.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (other.status === "acquired") {
      const entry = await world.ledger.get((a as Envelope).key);
      await world.ledger.putReceipt({
        sink: "s",
        key: (a as Envelope).key,
        id: (a as Envelope).id,
        position: entry?.position as number,
        status: "written",
        checksum: (a as Envelope).checksum,
        attempt: 1,
        startedAt: new Date(world.clock.now()).toISOString(),
        finishedAt: new Date(world.clock.now()).toISOString(),
        fencingToken: other.claim.fencingToken,
      });
      await world.ledger.releaseClaim(other.claim);
    }
    const receipts = await delivering;
    expect(receipts.map((r) => r.status)).toEqual(["duplicate", "written"]);
    expect(waits).toEqual(["other"]);
    expect(seen).toEqual([(b as Envelope).key]);
  });

  it("a batch whose claims are taken over while it writes stores superseded receipts", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 3);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const writing = new Promise<void>((resolve) => {
      started = resolve;
    });
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      claimTtlMs: 1000,
      writeBatch: async () => {
        started();
        await gate;
      },
      // No renewals: the claims expire while the write is paused.
      timers: { setInterval: () => 0, clearInterval: () => undefined },
    });
    const delivering = guard.deliverMany(envelopes);
    await writing;
    world.clock.advance(2000);
    const taken = await world.ledger.claim("s", (envelopes[1] as Envelope).key, {
      owner: "rescuer",
      ttlMs: 1000,
    });
    expect(taken.status).toBe("acquired");
    release();
    const receipts = await delivering;
    expect(receipts.map((r) => r.status)).toEqual(["written", "superseded", "written"]);
    expect(await world.ledger.getWatermark("s")).toBe(1);
  });

  it("two guards delivering the same batch at once write each key once", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 50);
    const writes = new Map<string, number>();
    const make = (owner: string) =>
      guardSink({
        name: "s",
        ledger: world.ledger,
        owner,
        pollMs: 1,
        writeBatch: async (batch) => {
          await new Promise((resolve) => setImmediate(resolve));
          for (const e of batch) writes.set(e.key, (writes.get(e.key) ?? 0) + 1);
        },
      });
    const [one, two] = await Promise.all([
      make("a").deliverMany(envelopes),
      make("b").deliverMany([...envelopes].reverse()),
    ]);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
    expect(writes.size).toBe(50);
    const statuses = [...(one ?? []), ...(two ?? [])].map((r) => r.status);
    expect(statuses.filter((s) => s === "written")).toHaveLength(50);
    expect(statuses.filter((s) => s === "duplicate")).toHaveLength(50);
    expect(await world.ledger.getWatermark("s")).toBe(50);
  });

  it("without writeBatch, writes each with write, at most concurrency at once, in order within a stream; validate rejects", async () => {
    const world = guardWorld();
    const seal = createSealer({ clock: world.clock.now });
    const envelopes = Array.from({ length: 20 }, (_, n) =>
      seal({
        producer: "p",
        stream: `s${n % 5}`,
        seq: n,
        type: "t",
        schema: { name: "x", version: 1 },
        payload: { n },
      }),
    );
    await world.ledger.append(envelopes);
    const order: number[] = [];
    let active = 0;
    let most = 0;
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      concurrency: 3,
      validate: (e) =>
        (e.payload as { n: number }).n === 7 ? [{ path: "$.n", code: "bad", message: "no 7" }] : [],
      write: async (e) => {
        active++;
        most = Math.max(most, active);
        await new Promise((resolve) => setImmediate(resolve));
        order.push((e.payload as { n: number }).n);
        active--;
      },
    });
    const receipts = await guard.deliverMany(envelopes);
    expect(most).toBe(3);
    for (let stream = 0; stream < 5; stream++) {
      const mine = order.filter((n) => n % 5 === stream);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(receipts.filter((r) => r.status === "written")).toHaveLength(19);
    expect(receipts[7]?.status).toBe("rejected");
    expect(await world.ledger.getWatermark("s")).toBe(20);
  });

  it("a guard given only writeBatch delivers one envelope as a batch of one", async () => {
    const world = guardWorld();
    const [a, b] = await appendN(world, 2);
    const batches: number[] = [];
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      retry: noSleep,
      writeBatch: (batch, ctx) => {
        batches.push(batch.length);
        if (batch[0]?.key === b?.key && ctx.attempt === 1) {
          return { failed: [{ key: b?.key as string, error: new Error("busy") }] };
        }
        return { offsets: { [batch[0]?.key as string]: "7" } };
      },
    });
    expect((await guard.deliver(a as Envelope)).sinkOffset).toBe("7");
    const second = await guard.deliver(b as Envelope);
    expect([second.status, second.attempt]).toEqual(["written", 2]);
    expect(batches).toEqual([1, 1, 1]);
  });

  it("a repeat that does not match the ledger refuses the batch before anything is written", async () => {
    const world = guardWorld();
    const [a, b] = await appendN(world, 2);
    let written = 0;
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      writeBatch: () => {
        written++;
      },
    });
    const other = { ...(a as Envelope), checksum: (b as Envelope).checksum };
    const error = await guard.deliverMany([a, b, other] as Envelope[]).catch((e: unknown) => e);
    expect((error as DeliveryError).code).toBe("ledger_mismatch");
    expect(written).toBe(0);
    expect(await world.ledger.getReceipts("s", (a as Envelope).key)).toEqual([]);
  });

  it("a held key whose delivery throws rejects the batch after it ends, never unheard", async () => {
    for (const thrown of [new Error("validator broke"), undefined]) {
      const world = guardWorld();
      const [a, b] = await appendN(world, 2);
      await world.ledger.claim("s", (b as Envelope).key, { owner: "other", ttlMs: 30 });
      const unheard: unknown[] = [];
      const listener = (reason: unknown) => unheard.push(reason);
      process.on("unhandledRejection", listener);
      try {
        const guard = guardSink({
          name: "s",
          ledger: world.ledger,
          pollMs: 5,
          claimTtlMs: 1000,
          validate: (e) => {
            if (e.key === (b as Envelope).key) throw thrown;
            return [];
          },
          write: async () => {
            await new Promise((resolve) => setTimeout(resolve, 80));
          },
        });
        // b is held when the batch is claimed; its holder's claim expires while a is written.
        const delivering = guard.deliverMany([a, b] as Envelope[]).then(
          (receipts) => ({ receipts }),
          (error: unknown) => ({ error }),
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
        world.clock.advance(100);
        const outcome = await delivering;
        expect("error" in outcome, String(thrown)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(unheard).toEqual([]);
        // The batch's own claim was released.
        const again = await world.ledger.claim("s", (a as Envelope).key, { owner: "x", ttlMs: 10 });
        expect(again.status).toBe("done");
      } finally {
        process.off("unhandledRejection", listener);
      }
    }
  });

  it("a single deliver through writeBatch stores the failed receipt, then throws a bad answer, once", async () => {
    const world = guardWorld();
    const [a] = await appendN(world, 1);
    let calls = 0;
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      retry: noSleep,
      writeBatch: () => {
        calls++;
        return 42 as never;
      },
    });
    const error = await guard.deliver(a as Envelope).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).path).toBe("options.writeBatch()");
    expect(calls).toBe(1);
    const stored = await world.ledger.getReceipts("s", (a as Envelope).key);
    expect(stored.map((r) => [r.status, r.error?.code])).toEqual([["failed", "invalid_argument"]]);
    expect(
      (await world.ledger.claim("s", (a as Envelope).key, { owner: "x", ttlMs: 10 })).status,
    ).toBe("acquired");
  });

  it("a batch answer listing more failures than a batch can hold is refused at once", async () => {
    const world = guardWorld();
    const [a] = await appendN(world, 1);
    const huge: unknown[] = [];
    huge.length = 2 ** 28; // sparse: would take seconds to walk
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      writeBatch: () => ({ failed: huge as never }),
    });
    const error = await guard.deliverMany([a as Envelope]).catch((e: unknown) => e);
    expect((error as InvalidArgumentError).path).toBe("options.writeBatch().failed");
    // A polluted Object.prototype is not read: a plain answer's own fields only.
    const proto = Object.prototype as Record<string, unknown>;
    proto.failed = [{ key: (a as Envelope).key, error: 1 }];
    try {
      const plain = guardSink({ name: "t", ledger: world.ledger, writeBatch: () => ({}) });
      expect((await plain.deliverMany([a as Envelope]))[0]?.status).toBe("written");
    } finally {
      delete proto.failed;
    }
  });

  it("a caller that gives up gets failed receipts of code aborted, and no claim is left", async () => {
    const world = guardWorld();
    const envelopes = await appendN(world, 3);
    const controller = new AbortController();
    let calls = 0;
    const guard = guardSink({
      name: "s",
      ledger: world.ledger,
      retry: {
        attempts: 5,
        sleep: async () => {
          controller.abort(new Error("shutting down"));
          throw new Error("aborted");
        },
      },
      writeBatch: () => {
        calls++;
        throw new Error("busy");
      },
    });
    const receipts = await guard.deliverMany(envelopes, { signal: controller.signal });
    expect(calls).toBe(1);
    expect(receipts.map((r) => [r.status, r.error?.code])).toEqual(
      Array(3).fill(["failed", "aborted"]),
    );
    expect(receipts[0]?.error?.message).toBe("shutting down");
    const after = await guard.deliverMany(envelopes, { signal: controller.signal });
    expect(after.map((r) => r.error?.code)).toEqual(["aborted", "aborted", "aborted"]);
    expect(calls).toBe(1);
    for (const e of envelopes) {
      expect((await world.ledger.claim("s", e.key, { owner: "x", ttlMs: 10 })).status).toBe(
        "acquired",
      );
    }
  });

  it("works over any ledger through BaseLedger's defaults", async () => {
    const ledger = new MemoryLedger();
    const world = { ...guardWorld(), ledger };
    const envelopes = Array.from({ length: 10 }, () => world.event());
    await ledger.append(envelopes);
    const guard = guardSink({ name: "s", ledger, writeBatch: () => undefined });
    expect((await guard.deliverMany(envelopes)).every((r) => r.status === "written")).toBe(true);
    expect(await ledger.getWatermark("s")).toBe(10);
  });
});
