import fc from "fast-check";
import { monotonicFactory } from "ulid";
import { describe, expect, it } from "vitest";
import { createIdFactory, IdError, InvalidArgumentError, idTime, isId } from "../../src/index.js";
import { catchError, readVector } from "../helpers.js";

const vectors = JSON.parse(readVector("ulid.json"));
const ENCODING: string = vectors.constants.alphabet;

/** A random source that yields each digit of `random` (16 base-32 characters) in ulid's order. */
function randomFor(randomPart: string): () => number {
  // ulid draws the last character first.
  const digits = [...randomPart].reverse().map((c) => (ENCODING.indexOf(c) + 0.5) / 32);
  let i = 0;
  return () => digits[i++ % digits.length] as number;
}

describe("ULID vectors (ulid.json)", () => {
  it("covers the groups we know; the ones that do not apply are named here", () => {
    // Not applicable: encodeTimeWithLength_legacy (no length parameter), binary (no binary
    // form in the API), crockfordFix (ids are read strictly), readmeExamples_doNotUse.
    expect(Object.keys(vectors).sort()).toEqual(
      [
        "binary",
        "constants",
        "crockfordFix",
        "decodeTime",
        "decodeTimeErrors",
        "description",
        "encodeTime",
        "encodeTimeErrors",
        "encodeTimeWithLength_legacy",
        "incrementBase32",
        "monotonic",
        "parseValid",
        "readmeExamples_doNotUse",
      ].sort(),
    );
  });

  for (const { time, expected } of vectors.encodeTime as Array<{
    time: number;
    expected: string;
  }>) {
    it(`encodes time ${time} as ${expected}`, () => {
      const id = createIdFactory({ clock: () => time, random: () => 0 })();
      expect(id.slice(0, 10)).toBe(expected);
      expect(idTime(id)).toBe(time);
    });
  }

  for (const { time, value } of vectors.encodeTimeErrors as Array<{
    time: string;
    value: unknown;
  }>) {
    it(`refuses a clock that returns ${time}`, () => {
      const bad = value === null ? Number.POSITIVE_INFINITY : value;
      const error = catchError(() => createIdFactory({ clock: () => bad as number })());
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.path).toBe("options.clock()");
    });
  }

  for (const { ulid, expected } of vectors.decodeTime as Array<{
    ulid: string;
    expected: number;
  }>) {
    it(`decodes the time of ${ulid} as ${expected}`, () => {
      expect(idTime(ulid)).toBe(expected);
    });
  }

  for (const { ulid, reason } of vectors.decodeTimeErrors as Array<{
    ulid: string;
    reason: string;
  }>) {
    it(`refuses to decode ${ulid} (${reason})`, () => {
      expect(catchError(() => idTime(ulid))).toBeInstanceOf(InvalidArgumentError);
      expect(isId(ulid)).toBe(false);
    });
  }

  for (const { ulid } of vectors.parseValid as Array<{ ulid: string }>) {
    it(`accepts ${ulid} as an id`, () => {
      expect(isId(ulid)).toBe(true);
    });
  }

  const [sameMs, backwards, specIncrement, specOverflow, goOverflow] = vectors.monotonic;

  it(`monotonic: ${sameMs.name}`, () => {
    const calls = sameMs.calls as Array<{ seedTime: number; expected: string }>;
    let now = 0;
    const next = createIdFactory({ clock: () => now, random: () => sameMs.prng });
    for (const call of calls) {
      now = call.seedTime;
      expect(next()).toBe(call.expected);
    }
  });

  it(`monotonic: ${backwards.name}`, () => {
    const calls = backwards.calls as Array<{ seedTime: number; expected: string }>;
    let now = 0;
    const next = createIdFactory({ clock: () => now, random: () => backwards.prng });
    for (const call of calls) {
      now = call.seedTime;
      expect(next()).toBe(call.expected);
    }
  });

  it(`monotonic: ${specIncrement.name}`, () => {
    const sequence = specIncrement.sequence as string[];
    const first = sequence[0] as string;
    const next = createIdFactory({
      clock: () => idTime(first),
      random: randomFor(first.slice(10)),
    });
    for (const expected of sequence) expect(next()).toBe(expected);
  });

  it(`monotonic: ${specOverflow.name}`, () => {
    const sequence = specOverflow.sequence as string[];
    const first = sequence[0] as string;
    const next = createIdFactory({
      clock: () => idTime(first),
      random: randomFor(first.slice(10)),
    });
    for (const expected of sequence) expect(next()).toBe(expected);
    const error = catchError(() => next());
    expect(error).toBeInstanceOf(IdError);
    expect(error.code).toBe("id_overflow");
    // A later millisecond starts afresh.
  });

  it(`monotonic: ${goOverflow.name}`, () => {
    const next = createIdFactory({ clock: () => 0, random: () => 0.999 });
    expect(next()).toBe(goOverflow.firstUlid);
    expect(catchError(() => next()).code).toBe("id_overflow");
    expect(catchError(() => next()).code).toBe("id_overflow");
  });

  for (const { input, expected } of vectors.incrementBase32 as Array<{
    input: string;
    expected: string | null;
  }>) {
    it(`increments a random part ending in ${input} to ${expected ?? "an overflow"}`, () => {
      const width = 16 - input.length;
      const start = (expected === null ? "Z" : "0").repeat(width) + input;
      const next = createIdFactory({ clock: () => 1, random: randomFor(start) });
      expect(next().slice(10)).toBe(start);
      if (expected === null) expect(catchError(() => next()).code).toBe("id_overflow");
      else expect(next().slice(10)).toBe("0".repeat(width) + expected);
    });
  }
});

describe("createIdFactory", () => {
  it("makes the same ids as ulid's monotonicFactory for any clock and random source (ulid is the oracle)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2 ** 48 - 1 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), {
          minLength: 1,
          maxLength: 64,
        }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        (times, randoms, repeat) => {
          let i = 0;
          const random = () => randoms[i++ % randoms.length] as number;
          let j = 0;
          const oracleRandom = () => randoms[j++ % randoms.length] as number;
          let now = times[0] as number;
          const ours = createIdFactory({ clock: () => now, random });
          const theirs = monotonicFactory(oracleRandom);
          times.forEach((time, k) => {
            if (!repeat[k]) now = time; // some calls stay in the same millisecond
            let expected: string | undefined;
            try {
              expected = theirs(now);
            } catch {
              // ulid overflowed (all-Z random part): so must we.
            }
            if (expected === undefined) expect(catchError(() => ours()).code).toBe("id_overflow");
            else expect(ours()).toBe(expected);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("returns ids that sort in creation order, 20,000 in a row", () => {
    const next = createIdFactory();
    let previous = next();
    for (let i = 0; i < 20_000; i++) {
      const id = next();
      expect(id > previous).toBe(true);
      previous = id;
    }
  });

  it("uses a strong random source by default: two factories in one ms differ", () => {
    const a = createIdFactory({ clock: () => 1 })();
    const b = createIdFactory({ clock: () => 1 })();
    expect(a).not.toBe(b);
    expect(isId(a) && isId(b)).toBe(true);
  });

  it("rejects bad options and a bad random source with InvalidArgumentError", () => {
    expect(catchError(() => createIdFactory({ clock: 5 as never })).path).toBe("options.clock");
    expect(catchError(() => createIdFactory({ random: "x" as never })).path).toBe("options.random");
    expect(catchError(() => createIdFactory(null as never)).path).toBe("options");
    const badRandom = createIdFactory({ clock: () => 1, random: () => 1 });
    expect(catchError(() => badRandom()).path).toBe("options.random()");
    const nan = createIdFactory({ clock: () => 1, random: () => Number.NaN });
    expect(catchError(() => nan()).path).toBe("options.random()");
  });

  it("leaves no half-made state when the random source throws", () => {
    let fail = true;
    const next = createIdFactory({
      clock: () => 5,
      random: () => {
        if (fail) throw new Error("entropy exhausted");
        return 0.5;
      },
    });
    expect(() => next()).toThrow("entropy exhausted");
    fail = false;
    expect(next()).toBe(`000000000${ENCODING[5]}${"G".repeat(16)}`);
  });
});

describe("isId and idTime", () => {
  it("isId requires upper case, 26 characters, the Crockford alphabet and a 48-bit time", () => {
    expect(isId("01ARYZ6S41TSV4RRFFQ69G5FAV")).toBe(true);
    for (const bad of [
      "01arYZ6s41tsv4rrffq69g5fav",
      "01ARYZ6S41TSV4RRFFQ69G5FAI",
      "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
      "",
      1,
      null,
    ]) {
      expect(isId(bad)).toBe(false);
    }
  });

  it("idTime rejects wrong types with an InvalidArgumentError", () => {
    expect(catchError(() => idTime(42 as never)).path).toBe("id");
    expect(catchError(() => idTime("01ARYZ6S41TSV4RRFFQ69G5FAL")).path).toBe("id");
  });
});
