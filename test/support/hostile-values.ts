/**
 * Hostile values for the adversarial suite (test/hostile.test.ts): every value a caller
 * could hand a public function by mistake or by malice. Each entry builds its value fresh
 * on every `make()` call, so a function that mutates, freezes or caches what it was given
 * cannot leak state from one call into the next.
 *
 * Every trap and accessor that throws does so with a message starting `hostile:`, so a
 * raw error that escapes the library can be told apart from one the library made itself.
 */
import { seal } from "sinkproof";

/** One named hostile value. */
export interface HostileValue {
  readonly name: string;
  readonly make: () => unknown;
}

/** The error every hostile trap and accessor throws. */
export class HostileTrapError extends Error {
  constructor(what: string) {
    super(`hostile: ${what}`);
    this.name = "HostileTrapError";
  }
}

/**
 * Where the last trap that throws a non-Error was sprung (a thrown string has no stack of
 * its own): the suite uses it to say which library line touched the value.
 */
export const lastNonErrorTrap: { stack: string | undefined } = { stack: undefined };

const trap = (what: string) => (): never => {
  throw new HostileTrapError(what);
};

/** `{ a: { a: ... } }`, `depth` levels deep, built without recursion. */
function nestObjects(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** `[[...]]`, `depth` levels deep, built without recursion. */
function nestArrays(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

// Strings are immutable primitives: one copy of the 20 MB string is as "fresh" as another,
// and building it once keeps the suite fast.
let huge: string | undefined;
const hugeString = (): string => {
  huge ??= "x".repeat(20 * 1024 * 1024);
  return huge;
};

/** A real sealed envelope, for the lying-envelope proxies when none is given. */
function sampleEnvelope(): object {
  return seal({
    producer: "hostile-svc",
    seq: 1,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { orderId: "o-1", total: 10 },
  });
}

/**
 * The hostile values, built fresh. `envelope`, when given, is the real sealed envelope the
 * "lying envelope" proxies wrap (give the one a test appended to its ledger, so the lie is
 * the only thing wrong with it); without it they wrap an envelope sealed here.
 */
export function hostileValues(envelope?: object): HostileValue[] {
  const real = (): object => envelope ?? sampleEnvelope();
  return [
    // ---- proxies with throwing or lying traps
    { name: "proxy: get trap throws", make: () => new Proxy({}, { get: trap("get trap") }) },
    {
      name: "proxy: get trap throws a non-Error (string)",
      make: () =>
        new Proxy(
          {},
          {
            get() {
              lastNonErrorTrap.stack = new Error("trap sprung").stack;
              throw "hostile: a thrown string";
            },
          },
        ),
    },
    {
      name: "proxy: ownKeys trap throws",
      make: () => new Proxy({ a: 1 }, { ownKeys: trap("ownKeys trap") }),
    },
    {
      name: "proxy: ownKeys reports keys that are not there",
      make: () =>
        new Proxy(
          {},
          {
            ownKeys: () => ["ghost", "name", "key", "payload"],
            getOwnPropertyDescriptor: () => undefined,
          },
        ),
    },
    {
      name: "proxy: getOwnPropertyDescriptor trap throws",
      make: () =>
        new Proxy({ a: 1 }, { getOwnPropertyDescriptor: trap("getOwnPropertyDescriptor trap") }),
    },
    { name: "proxy: has trap throws", make: () => new Proxy({ a: 1 }, { has: trap("has trap") }) },
    {
      name: "proxy: getPrototypeOf trap throws",
      make: () => new Proxy({ a: 1 }, { getPrototypeOf: trap("getPrototypeOf trap") }),
    },
    {
      name: "proxy: revoked",
      make: () => {
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        return proxy;
      },
    },
    {
      name: "proxy: array whose length get throws",
      make: () =>
        new Proxy([1, 2, 3], {
          get(target, property, receiver) {
            if (property === "length") throw new HostileTrapError("array length get");
            return Reflect.get(target, property, receiver);
          },
        }),
    },
    {
      name: "proxy: function whose apply trap throws",
      make: () => new Proxy(() => undefined, { apply: trap("apply trap") }),
    },

    // ---- objects with throwing hooks
    {
      name: "object: getter throws",
      make: () => ({
        get a(): unknown {
          throw new HostileTrapError("getter");
        },
      }),
    },
    { name: "object: toJSON throws", make: () => ({ a: 1, toJSON: trap("toJSON") }) },
    {
      name: "object: toPrimitive/valueOf/toString throw",
      make: () => ({
        [Symbol.toPrimitive]: trap("Symbol.toPrimitive"),
        valueOf: trap("valueOf"),
        toString: trap("toString"),
      }),
    },
    {
      name: "object: thenable whose then throws",
      // biome-ignore lint/suspicious/noThenProperty: a throwing thenable is the point.
      make: () => ({ then: trap("then") }),
    },
    { name: "object: Object.create(null), empty", make: () => Object.create(null) },
    {
      name: "object: circular",
      make: () => {
        const value: Record<string, unknown> = { a: 1 };
        value.self = value;
        return value;
      },
    },
    { name: "object: nested 100k levels", make: () => nestObjects(100_000) },
    { name: "array: nested 100k levels", make: () => nestArrays(100_000) },
    { name: "object: frozen", make: () => Object.freeze({ a: 1 }) },
    { name: "object: own __proto__ key", make: () => JSON.parse('{"__proto__":{"polluted":1}}') },
    { name: "object: Error instance", make: () => new Error("an error as a value") },

    // ---- strings
    { name: "string: empty", make: () => "" },
    { name: "string: 20 MB", make: hugeString },
    { name: "string: lone surrogate", make: () => "a\uD800b" },
    { name: "string: NUL and control characters", make: () => "a\u0000b\u001b[2J" },
    { name: "string object (new String)", make: () => new String("x") },

    // ---- numbers
    { name: "number: NaN", make: () => Number.NaN },
    { name: "number: Infinity", make: () => Number.POSITIVE_INFINITY },
    { name: "number: -Infinity", make: () => Number.NEGATIVE_INFINITY },
    { name: "number: -0", make: () => -0 },
    { name: "number: 2**53", make: () => 2 ** 53 },
    { name: "number: -1", make: () => -1 },
    { name: "number: 0.5", make: () => 0.5 },
    { name: "number: Number.MAX_VALUE", make: () => Number.MAX_VALUE },

    // ---- other primitives
    { name: "bigint", make: () => 10n },
    { name: "symbol", make: () => Symbol("hostile") },
    { name: "null", make: () => null },
    { name: "undefined", make: () => undefined },
    { name: "boolean: true", make: () => true },

    // ---- functions
    { name: "function: returns undefined", make: () => function hostile() {} },
    {
      name: "function: throws",
      make: () => () => {
        throw new HostileTrapError("function called");
      },
    },

    // ---- class instances
    { name: "Map", make: () => new Map([["a", 1]]) },
    { name: "Set", make: () => new Set([1]) },
    { name: "Date: invalid", make: () => new Date(Number.NaN) },
    { name: "RegExp", make: () => /a+/g },
    { name: "Buffer", make: () => Buffer.from("hostile") },
    { name: "Uint8Array", make: () => new Uint8Array([1, 2, 3]) },
    { name: "WeakMap", make: () => new WeakMap() },

    // ---- arrays
    {
      name: "array: sparse",
      // biome-ignore lint/suspicious/noSparseArray: the hole is the point.
      make: () => [1, , 3],
    },
    {
      name: "array: with extra props",
      make: () => Object.assign([1, 2], { extra: "prop", [Symbol("s")]: 1 }),
    },
    { name: "array: empty", make: () => [] },

    // ---- promises
    { name: "Promise: resolved", make: () => Promise.resolve(1) },
    {
      name: "Promise: rejected (handled)",
      make: () => {
        const p = Promise.reject(new HostileTrapError("rejected promise"));
        p.catch(() => undefined);
        return p;
      },
    },

    // ---- lying envelopes: a real sealed envelope behind a proxy
    {
      name: "lying envelope: get throws for payload",
      make: () => lyingField(real(), "payload"),
    },
    {
      name: "lying envelope: get throws for checksum",
      make: () => lyingField(real(), "checksum"),
    },
    {
      name: "lying envelope: get throws for key",
      make: () => lyingField(real(), "key"),
    },
    {
      name: "lying envelope: ownKeys throws",
      make: () => new Proxy(real(), { ownKeys: trap("envelope ownKeys") }),
    },
    {
      name: "lying envelope: payload changes after first read",
      make: () => {
        // A non-frozen copy: a proxy of a frozen object may not lie about its fields.
        const target: Record<string, unknown> = { ...real() };
        let reads = 0;
        return new Proxy(target, {
          get(t, property, receiver) {
            if (property === "payload" && reads++ > 0) return { orderId: "forged", total: 0 };
            return Reflect.get(t, property, receiver);
          },
        });
      },
    },
    {
      name: "lying envelope: getOwnPropertyDescriptor throws",
      make: () =>
        new Proxy(real(), { getOwnPropertyDescriptor: trap("envelope getOwnPropertyDescriptor") }),
    },
  ];
}

function lyingField(target: object, field: string): object {
  return new Proxy(target, {
    get(t, property, receiver) {
      if (property === field) throw new HostileTrapError(`envelope get ${field}`);
      return Reflect.get(t, property, receiver);
    },
  });
}
