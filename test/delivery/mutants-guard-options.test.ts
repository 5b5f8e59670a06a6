/**
 * Tests aimed at the mutants `npm run mutate` left alive in the guard's option checks
 * (guard-options, limits, guard-context, guard.ts): exact paths and messages, bounds at
 * and past each limit, the clock's range, deliver options, clipped receipt errors.
 */
import { describe, expect, it } from "vitest";
import {
  type Envelope,
  guardSink,
  InvalidArgumentError,
  type SinkWriter,
} from "../../src/index.js";
import { guardWorld } from "./support.js";

const MAX_TIME = 253_402_300_799_999;

function setup() {
  const { clock, ledger, event } = guardWorld();
  const appended = async (...envelopes: Envelope[]) => {
    await ledger.append(envelopes);
    return envelopes;
  };
  const write: SinkWriter = async () => ({ offset: "row" });
  return { clock, ledger, event, appended, write };
}

function caught(run: () => unknown): InvalidArgumentError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error("did not throw");
}

async function rejection(promise: Promise<unknown>): Promise<InvalidArgumentError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error("did not reject");
}

describe("guardSink options: paths and messages", () => {
  it("requires the options object itself", () => {
    const error = caught(() => guardSink(undefined as never));
    expect(error.code).toBe("invalid_argument");
    expect(error.path).toBe("options");
  });

  it("names options.validate with its exact message", () => {
    const { ledger, write } = setup();
    const error = caught(() => guardSink({ name: "s", ledger, write, validate: 5 as never }));
    expect(error.code).toBe("invalid_argument");
    expect(error.path).toBe("options.validate");
    expect(error.message).toBe("options.validate must be a function or a zod schema");
  });

  it("names each bad option by its path", () => {
    const { ledger, write } = setup();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ owner: "" }, "options.owner"],
      [{ owner: "x".repeat(257) }, "options.owner"],
      [{ metrics: 5 }, "options.metrics"],
      [{ signReceipts: { keyId: "k", secret: "short" } }, "options.signReceipts.secret"],
      [{ clock: 5 }, "options.clock"],
      [{ registry: 5 }, "options.registry"],
      [{ pollMs: 0 }, "options.pollMs"],
      [{ pollMs: 60_001 }, "options.pollMs"],
    ];
    for (const [extra, path] of cases) {
      const error = caught(() => guardSink({ name: "s", ledger, write, ...extra } as never));
      expect(error.path, path).toBe(path);
      expect(error.message.startsWith(`${path} `), path).toBe(true);
    }
  });

  it("accepts pollMs at its bounds and an owner at its limit", () => {
    const { ledger, write } = setup();
    expect(() => guardSink({ name: "s", ledger, write, pollMs: 1 })).not.toThrow();
    expect(() => guardSink({ name: "s", ledger, write, pollMs: 60_000 })).not.toThrow();
    expect(() => guardSink({ name: "s", ledger, write, owner: "x".repeat(256) })).not.toThrow();
  });

  it("uses the given owner as the default actor of a freeze", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write, owner: "worker-7" });
    const freeze = await guard.freeze("maintenance");
    expect(freeze.actor).toBe("worker-7");
    expect(freeze.reason).toBe("maintenance");
  });
});

describe("guardSink: the clock's answer is checked", () => {
  const bad: Array<[unknown, string]> = [
    [-1, "-1"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [MAX_TIME + 1, String(MAX_TIME + 1)],
    ["now", '"now"'],
  ];
  for (const [ms, shown] of bad) {
    it(`refuses a clock returning ${shown}`, async () => {
      const { ledger, event, appended, write } = setup();
      const [e] = await appended(event());
      const guard = guardSink({ name: "s", ledger, write, clock: () => ms as number });
      const error = await rejection(guard.deliver(e as Envelope));
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toBe("options.clock()");
      expect(error.message).toBe(
        `options.clock() must return ms since the epoch, up to the end of year 9999, got ${shown}`,
      );
    });
  }

  for (const ms of [0, MAX_TIME]) {
    it(`accepts a clock returning ${ms}`, async () => {
      const { ledger, event, appended, write } = setup();
      const [e] = await appended(event());
      const guard = guardSink({ name: "s", ledger, write, clock: () => ms });
      const receipt = await guard.deliver(e as Envelope);
      expect(receipt.status).toBe("written");
    });
  }
});

describe("guardSink.deliver: the envelope argument", () => {
  it("refuses a non-object envelope with its exact message", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    for (const [value, shown] of [
      [null, "null"],
      [5, "number"],
    ] as const) {
      const error = await rejection(guard.deliver(value as never));
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toBe("envelope");
      expect(error.message).toBe(`envelope must be an envelope, got ${shown}`);
    }
  });

  it("refuses an envelope without a string key", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    const error = await rejection(guard.deliver({ key: 5, checksum: "x" } as never));
    expect(error.path).toBe("envelope");
    expect(error.message.startsWith("envelope must be an envelope, got ")).toBe(true);
  });

  it("refuses an envelope without a string checksum", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    const error = await rejection(guard.deliver({ key: "k", checksum: 5 } as never));
    expect(error.path).toBe("envelope.checksum");
    expect(error.message).toBe("envelope.checksum must be a checksum, got number");
  });

  it("names the envelope when reading its key throws", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    const hostile = {
      get key(): string {
        throw new Error("boom");
      },
    };
    const error = await rejection(guard.deliver(hostile as never));
    expect(error.path?.startsWith("envelope")).toBe(true);
  });
});

describe("guardSink.deliver: its options", () => {
  it("refuses a signal that is not an AbortSignal", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const guard = guardSink({ name: "s", ledger, write });
    for (const signal of [{ aborted: false }, { aborted: true }, 5]) {
      const error = await rejection(guard.deliver(e as Envelope, { signal: signal as never }));
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toBe("options.signal");
      expect(error.message.startsWith("options.signal must be an AbortSignal, got ")).toBe(true);
    }
  });

  it("refuses a fake AbortSignal whose aborted cannot be read, naming options.signal", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const guard = guardSink({ name: "s", ledger, write });
    const fake = Object.create(AbortSignal.prototype) as AbortSignal;
    const error = await rejection(guard.deliver(e as Envelope, { signal: fake }));
    expect(error.path).toBe("options.signal");
  });

  it("accepts a real AbortSignal", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const guard = guardSink({ name: "s", ledger, write });
    const receipt = await guard.deliver(e as Envelope, { signal: new AbortController().signal });
    expect(receipt.status).toBe("written");
  });

  it("names options.onWait and options.replay", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const guard = guardSink({ name: "s", ledger, write });
    const onWait = await rejection(guard.deliver(e as Envelope, { onWait: 5 as never }));
    expect(onWait.path).toBe("options.onWait");
    const replay = await rejection(guard.deliver(e as Envelope, { replay: "yes" as never }));
    expect(replay.path).toBe("options.replay");
    expect(replay.message.startsWith("options.replay ")).toBe(true);
  });
});

describe("guardSink: validator issues are clipped into the receipt", () => {
  it("fills in $, invalid and show() for parts that are not strings", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const guard = guardSink({
      name: "s",
      ledger,
      write,
      validate: () => [
        { path: 5, code: 7, message: 42 } as never,
        { code: "", message: "m" } as never,
      ],
    });
    const receipt = await guard.deliver(e as Envelope);
    expect(receipt.status).toBe("rejected");
    expect(receipt.issues).toEqual([
      { path: "$", code: "invalid", message: "42" },
      { path: "$", code: "invalid", message: "m" },
    ]);
  });

  it("keeps string parts as they are, and cuts long ones to their limits", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const path = `$.${"p".repeat(2000)}`;
    const code = "c".repeat(300);
    const message = "m".repeat(5000);
    const guard = guardSink({
      name: "s",
      ledger,
      write,
      validate: () => [
        { path: "$.a", code: "bad", message: "no" },
        { path, code, message },
      ],
    });
    const receipt = await guard.deliver(e as Envelope);
    expect(receipt.issues).toEqual([
      { path: "$.a", code: "bad", message: "no" },
      { path: path.slice(0, 1024), code: code.slice(0, 128), message: message.slice(0, 4096) },
    ]);
  });

  it("cuts the receipt's error message to the message limit", async () => {
    const { ledger, event, appended, write } = setup();
    const [e] = await appended(event());
    const message = "m".repeat(5000);
    const guard = guardSink({
      name: "s",
      ledger,
      write,
      validate: () => [{ path: "$.a", code: "bad", message }],
    });
    const receipt = await guard.deliver(e as Envelope);
    expect(receipt.error?.message).toBe(`1 issue(s): $.a: ${message}`.slice(0, 4096));
  });
});

describe("guardSink.freeze and unfreeze", () => {
  it("refuses a reason that is not a non-empty string, with its exact message", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    for (const reason of ["", 5]) {
      const error = await rejection(guard.freeze(reason as never));
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toBe("reason");
      expect(error.message).toBe("reason must be a non-empty string");
    }
    expect(guard.status().frozen).toBeUndefined();
  });

  it("passes an origin on, and none when none is given", async () => {
    const { ledger, write } = setup();
    const guard = guardSink({ name: "s", ledger, write });
    const plain = await guard.freeze("one");
    expect(plain.reason).toBe("one");
    const lifted = await guard.unfreeze();
    expect(lifted.map((f) => f.reason)).toEqual(["one"]);
    const withOrigin = await guard.freeze("two", { origin: "ops-console" } as never);
    expect(withOrigin.origin).toBe("ops-console");
    await guard.unfreeze({ origin: "ops-console" } as never);
    expect(guard.status().frozen).toBeUndefined();
  });
});

describe("guardSink.measure", () => {
  it("ages the first undelivered entry after the watermark", async () => {
    const { clock, ledger, event, write } = setup();
    const guard = guardSink({ name: "s", ledger, write, clock: clock.now });
    const e1 = event();
    await ledger.append([e1]);
    clock.advance(1000);
    await ledger.append([event()]);
    clock.advance(200);
    await ledger.append([event()]);
    clock.advance(300);
    expect((await guard.deliver(e1 as Envelope)).status).toBe("written");
    const measured = await guard.measure();
    expect(measured).toEqual({
      lag: 2,
      oldestUndeliveredAgeMs: 500,
      heldBy: { position: 2, key: expect.any(String) },
    });
    await guard.deliver(
      (await ledger.get((measured.heldBy as { key: string }).key))?.envelope as Envelope,
    );
    const e3 = (await ledger.scan({ from: 3 })[Symbol.asyncIterator]().next()).value?.envelope;
    await guard.deliver(e3 as Envelope);
    expect(await guard.measure()).toEqual({ lag: 0, oldestUndeliveredAgeMs: 0, heldBy: undefined });
  });
});
