/**
 * Checking what `reconcile`, `repair` and `verifySinkPayloads` are given: the ledger, each
 * sink (its read-back, digest, guard, `accepts` and freeze policy), the observations a
 * sink answers, and what a sink that holds upcast versions should hold. Internal.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import {
  type OptionKeys,
  optionKeys,
  readArray,
  readOptions,
  readProperty,
} from "../internal/options.js";
import type { Ledger } from "../ledger/types.js";
import { checkName } from "../ledger/validate.js";
import { checkAccepts, checkRegistry, envelopeForSink } from "../schema/accepts.js";
import { FREEZE_KINDS } from "./freeze.js";
import type { FreezePolicy, ReconcileSink } from "./types.js";

export function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === "function";
}

/** Checks the `ledger` option of reconcile and repair. Internal. */
export function checkLedger(ledger: unknown): Ledger {
  const methods = [
    "head",
    "scan",
    "get",
    "getMany",
    "getReceipts",
    "scanReceipts",
    "appendAudit",
    "scanAudit",
    "freezeSink",
    "getFreezes",
  ] as const;
  if (typeof ledger !== "object" || ledger === null)
    invalidArgument("options.ledger", `must be a Ledger, got ${describe(ledger)}`);
  for (const method of methods) {
    if (!isFunction(readProperty(ledger, method, "options.ledger"))) {
      invalidArgument("options.ledger", `must be a Ledger (it has no ${method}() method)`);
    }
  }
  return ledger as Ledger;
}

/** Checks a freeze policy: known kinds, non-negative integer thresholds. Internal. */
export function checkFreezePolicy(policy: unknown, where: string): FreezePolicy | undefined {
  if (policy === undefined) return undefined;
  const read = readOptions<FreezePolicy>(policy, where, FREEZE_KINDS, {
    what: "a kind a sink can be frozen on",
  });
  for (const [kind, value] of Object.entries(read)) {
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      invalidArgument(`${where}.${kind}`, `must be a non-negative integer, got ${describe(value)}`);
    }
  }
  return Object.freeze(read);
}

/**
 * What `sink` should hold for `envelope`: the envelope itself, or, when the sink has
 * `accepts`, its upcast into the sink's range (the envelope itself when it cannot be
 * upcast: the guard refused it, so the sink should not hold anything else). Internal
 * (repair rewrites with it).
 */
export function expectedAtSink(sink: ReconcileSink, envelope: Envelope): Envelope {
  if (sink.accepts === undefined) return envelope;
  const ranges = checkAccepts(sink.accepts, "sink.accepts");
  const version = envelopeForSink(envelope, ranges, sink.registry);
  return version.issues === undefined ? version.envelope : envelope;
}

/** {@link expectedAtSink} for one sink, its ranges checked once. */
export function sinkExpectation(sink: ReconcileSink): (envelope: Envelope) => Envelope {
  const ranges = checkAccepts(sink.accepts, "sink.accepts");
  return (envelope) => {
    const version = envelopeForSink(envelope, ranges, sink.registry);
    return version.issues === undefined ? version.envelope : envelope;
  };
}

/** Checks one sink description. Internal (repair uses it too). */
export function checkSink(sink: unknown, where: string): ReconcileSink {
  if (typeof sink !== "object" || sink === null)
    invalidArgument(where, `must be a sink description, got ${describe(sink)}`);
  const s: Record<string, unknown> = readOptions<ReconcileSink>(
    sink,
    where,
    ACCEPTED_KEYS as never,
    {
      required: true,
    },
  );
  checkName(s.name, `${where}.name`); // the rule receipts and guards use

  const lag = s.lagToleranceMs;
  if (lag !== undefined && (typeof lag !== "number" || !Number.isFinite(lag) || lag < 0)) {
    invalidArgument(`${where}.lagToleranceMs`, `must be a finite number ≥ 0, got ${show(lag)}`);
  }
  for (const fn of ["observe", "rewrite", "remove"] as const) {
    const value = s[fn];
    if (value === undefined) continue;
    if (!isFunction(value))
      invalidArgument(`${where}.${fn}`, `must be a function, got ${describe(value)}`);
    // Called as a method of the sink the caller gave, whatever it is.
    s[fn] = (...args: unknown[]) => Reflect.apply(value, sink, args);
  }
  if (s.digest !== undefined) {
    const d = s.digest;
    const digest =
      typeof d === "object" && d !== null
        ? readProperty(d, "digest", `${where}.digest`)
        : undefined;
    const observeRange =
      typeof d === "object" && d !== null
        ? readProperty(d, "observeRange", `${where}.digest`)
        : undefined;
    if (!isFunction(digest) || !isFunction(observeRange)) {
      invalidArgument(`${where}.digest`, "must be { digest(split), observeRange(range) }");
    }
    s.digest = Object.freeze({
      digest: (split: unknown) => Reflect.apply(digest, d, [split]),
      observeRange: (range: unknown) => Reflect.apply(observeRange, d, [range]),
    });
  }
  if (s.guard !== undefined) {
    const g = s.guard;
    const at = `${where}.guard`;
    if (
      typeof g !== "object" ||
      g === null ||
      !isFunction(readProperty(g, "deliver", at)) ||
      !isFunction(readProperty(g, "freeze", at))
    ) {
      invalidArgument(at, "must be a guard made by guardSink()");
    }
    const guardName = readProperty(g, "name", at);
    if (guardName !== s.name)
      invalidArgument(at, `is the guard of sink ${show(guardName)}, not ${show(s.name)}`);
  }
  s.freezeOn = checkFreezePolicy(s.freezeOn, `${where}.freezeOn`);
  if (s.freezeOn === undefined) delete s.freezeOn;
  const ranges = checkAccepts(s.accepts, `${where}.accepts`);
  // The ranges as checked, not the caller's object (read again later, it could differ).
  if (ranges === undefined) delete s.accepts;
  else {
    s.accepts = Object.freeze(
      Object.fromEntries(
        [...ranges].map(([name, [min, max]]) => [name, Object.freeze([min, max])]),
      ),
    );
  }
  checkRegistry(s.registry, `${where}.registry`);
  if (s.accepts !== undefined && s.digest !== undefined) {
    invalidArgument(
      `${where}.accepts`,
      "cannot be used with digest: digest mode compares row hashes of the ledger's checksums; reconcile a sink that holds upcast versions with observe",
    );
  }
  return Object.freeze(s) as unknown as ReconcileSink;
}

/** The keys of {@link ReconcileSink}. Internal (the memory sink keeps to them). */
export const SINK_KEYS: OptionKeys<ReconcileSink> = optionKeys<ReconcileSink>()(
  "name",
  "lagToleranceMs",
  "observe",
  "digest",
  "guard",
  "rewrite",
  "remove",
  "freezeOn",
  "accepts",
  "registry",
);

/**
 * The keys a sink description may have: {@link SINK_KEYS}, and those of a ready-made sink
 * (`sinkproof/sinks/*`: its writers, `close` and what it states), which reconcile and
 * repair do not use, so that such a sink goes in as it is.
 */
const ACCEPTED_KEYS: readonly string[] = [
  ...SINK_KEYS,
  "write",
  "writeBatch",
  "close",
  "durability",
  "digestSees",
];

/** Checks the sink list: an array of sink descriptions with distinct names. Internal. */
export function checkSinks(given: unknown, where: string): readonly ReconcileSink[] {
  const sinks = readArray(given, where, 10_000);
  const names = new Set<string>();
  return sinks.map((sink, i) => {
    const checked = checkSink(sink, `${where}[${i}]`);
    if (names.has(checked.name))
      invalidArgument(`${where}[${i}].name`, `"${checked.name}" is given twice`);
    names.add(checked.name);
    return checked;
  });
}

export function checkPosition(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    invalidArgument(where, `must be a positive integer, got ${show(value)}`);
  }
  return value as number;
}
