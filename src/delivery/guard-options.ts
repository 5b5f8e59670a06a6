/**
 * The guard's options, read and checked once into a {@link GuardConfig} (in the order the
 * hostile tests expect: the first bad option is the one named), and the arguments of each
 * call read the same way: the envelope a delivery names, the options of one delivery, of
 * a freeze and of an unfreeze. Nothing here touches the ledger.
 *
 * @module
 */

import { describe, invalidArgument, reading, show } from "../internal/arguments.js";
import {
  checkBoolean,
  checkFunction,
  checkHasMethod,
  optionalFunction,
  optionalInteger,
} from "../internal/checks.js";
import { OWNER_LIMIT } from "../internal/limits.js";
import { type OptionKeys, optionKeys, readOptions, readProperty } from "../internal/options.js";
import type { Ledger } from "../ledger/types.js";
import { checkName } from "../ledger/validate.js";
import { type Logger, logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import { type AcceptedRanges, checkAccepts, checkRegistry } from "../schema/accepts.js";
import type { SchemaRegistry } from "../schema/registry.js";
import { batchOfOne } from "./batch-result.js";
import type {
  DeliverOptions,
  GuardFreezeOptions,
  GuardSinkOptions,
  GuardTimers,
  GuardUnfreezeOptions,
  SinkBatchWriter,
  SinkValidator,
  SinkWriter,
} from "./guard-types.js";
import { defaultOwner } from "./owner.js";
import { type RetryPolicy, resolveRetry } from "./retry.js";
import { checkSigningKey } from "./signing.js";
import { isSafeParseSchema } from "./validation.js";

/** The keys of {@link GuardSinkOptions}. Internal (the memory sink reads its guard options with them). */
export const GUARD_KEYS: OptionKeys<GuardSinkOptions> = optionKeys<GuardSinkOptions>()(
  "name",
  "ledger",
  "write",
  "writeBatch",
  "validate",
  "retry",
  "concurrency",
  "claimTtlMs",
  "owner",
  "metrics",
  "signReceipts",
  "clock",
  "pollMs",
  "accepts",
  "registry",
  "freezeCheckMs",
  "timers",
);
const TIMER_KEYS = optionKeys<GuardTimers>()("setInterval", "clearInterval");
/** The global interval timer, the default of `timers`. */
const GLOBAL_TIMERS: GuardTimers = Object.freeze({
  setInterval(tick: () => void, ms: number): unknown {
    const handle = setInterval(tick, ms);
    handle.unref?.();
    return handle;
  },
  clearInterval(handle: unknown): void {
    clearInterval(handle as ReturnType<typeof setInterval>);
  },
});
const DELIVER_KEYS = optionKeys<DeliverOptions>()("replay", "signal", "onWait", "whenHeld");
/** The keys of {@link GuardFreezeOptions}. */
export const FREEZE_KEYS: OptionKeys<GuardFreezeOptions> = optionKeys<GuardFreezeOptions>()(
  "actor",
  "origin",
);
/** The keys of {@link GuardUnfreezeOptions}. */
export const UNFREEZE_KEYS: OptionKeys<GuardUnfreezeOptions> = optionKeys<GuardUnfreezeOptions>()(
  "reason",
  "actor",
  "origin",
);
const NO_OPTIONS: DeliverOptions = Object.freeze({});

/** {@link GuardSinkOptions} checked, with every default filled in. */
export interface GuardConfig {
  readonly name: string;
  readonly ledger: Ledger;
  /** The caller's `write`, or a batch of one through `writeBatch`. */
  readonly write: SinkWriter;
  readonly writeBatch: SinkBatchWriter | undefined;
  readonly validate: SinkValidator | undefined;
  readonly retry: RetryPolicy;
  readonly concurrency: number;
  readonly claimTtlMs: number;
  readonly pollMs: number;
  readonly freezeCheckMs: number;
  readonly owner: string;
  /** The caller's metrics, wrapped so that a throwing one cannot fail a delivery. */
  readonly metrics: Metrics;
  /** The checked signing key, when receipts are signed. */
  readonly signer: { readonly keyId: string; readonly secret: Buffer } | undefined;
  readonly clock: () => number;
  /** The labels of every metric: `{ sink: name }`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The debug namespace `sinkproof:sink:<name>`. */
  readonly log: Logger;
  readonly accepts: AcceptedRanges | undefined;
  readonly registry: SchemaRegistry | undefined;
  /** The claim renewal timer: the caller's methods, bound to it, or the global one. */
  readonly timers: GuardTimers;
}

/** Reads `options.timers`: an object with `setInterval` and `clearInterval`, bound once. */
function checkTimers(timers: unknown): GuardTimers {
  if (timers === undefined) return GLOBAL_TIMERS;
  const read = readOptions<GuardTimers>(timers, "options.timers", TIMER_KEYS, { required: true });
  const set = checkFunction(
    read.setInterval,
    "options.timers.setInterval",
  ) as GuardTimers["setInterval"];
  const clear = checkFunction(
    read.clearInterval,
    "options.timers.clearInterval",
  ) as GuardTimers["clearInterval"];
  return {
    setInterval: (tick, ms) => set.call(timers, tick, ms),
    clearInterval: (handle) => clear.call(timers, handle),
  };
}

function checkLedgerOption(ledger: unknown): Ledger {
  return checkHasMethod(ledger, "claim", "options.ledger", "a ledger") as Ledger;
}

/** The integer options of {@link guardSink}. */
type IntegerOption = "concurrency" | "claimTtlMs" | "pollMs" | "freezeCheckMs";

/** Reads and checks the options of {@link guardSink}, each once, in the order of the keys. */
export function resolveGuardOptions(guardOptions: GuardSinkOptions): GuardConfig {
  const options = readOptions<GuardSinkOptions>(guardOptions, "options", GUARD_KEYS, {
    required: true,
  });
  const name = checkName(options.name, "options.name");
  const ledger = checkLedgerOption(options.ledger);
  const writeBatch = optionalFunction(options.writeBatch, "options.writeBatch") as
    | SinkBatchWriter
    | undefined;
  const write =
    options.write === undefined && writeBatch !== undefined
      ? batchOfOne(writeBatch)
      : checkFunction(options.write as SinkWriter, "options.write");
  const validate = options.validate;
  if (validate !== undefined && typeof validate !== "function" && !isSafeParseSchema(validate)) {
    invalidArgument("options.validate", "must be a function or a zod schema");
  }
  const retry = resolveRetry(options.retry);
  const int = (key: IntegerOption, min: number, max: number, fallback: number) =>
    optionalInteger(options[key], `options.${key}`, min, max, fallback);
  const concurrency = int("concurrency", 1, 10_000, 8);
  const claimTtlMs = int("claimTtlMs", 10, 86_400_000, 30_000);
  const pollMs = int("pollMs", 1, 60_000, 20);
  const freezeCheckMs = int("freezeCheckMs", 0, 3_600_000, 1000);
  const owner =
    options.owner === undefined
      ? defaultOwner()
      : checkName(options.owner, "options.owner", OWNER_LIMIT);
  const metrics = safeMetrics(checkMetrics(options.metrics, "options.metrics"));
  const signer =
    options.signReceipts === undefined
      ? undefined
      : checkSigningKey(options.signReceipts, "options.signReceipts");
  const clock = checkFunction(options.clock ?? Date.now, "options.clock");
  const labels = Object.freeze({ sink: name });
  const log = logger(`sink:${name}`);
  const accepts = checkAccepts(options.accepts, "options.accepts");
  const registry = checkRegistry(options.registry, "options.registry");
  const timers = checkTimers(options.timers);
  return {
    name,
    ledger,
    write,
    writeBatch,
    validate,
    retry,
    concurrency,
    claimTtlMs,
    pollMs,
    freezeCheckMs,
    owner,
    metrics,
    signer,
    clock,
    labels,
    log,
    accepts,
    registry,
    timers,
  };
}

/** A time from the guard's clock: an integer of ms within what a `Date` can hold. */
export function checkedTime(ms: unknown): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) {
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch, up to the end of year 9999, got ${show(ms)}`,
    );
  }
  return ms;
}

/** What a delivery reads of the caller's envelope, read once: the ledger has the rest. */
export interface EnvelopeRef {
  readonly key: string;
  readonly checksum: unknown;
}

/** Reads the key and checksum of the envelope a delivery names. */
export function envelopeRef(envelope: unknown): EnvelopeRef {
  if (typeof envelope !== "object" || envelope === null) {
    invalidArgument("envelope", `must be an envelope, got ${describe(envelope)}`);
  }
  const key = readProperty(envelope, "key", "envelope");
  if (typeof key !== "string") {
    invalidArgument("envelope", `must be an envelope, got ${describe(envelope)}`);
  }
  const checksum = readProperty(envelope, "checksum", "envelope");
  if (typeof checksum !== "string")
    invalidArgument("envelope.checksum", `must be a checksum, got ${describe(checksum)}`);
  return { key, checksum };
}

/** Reads and checks the options of one delivery. */
export function readDeliverOptions(options: unknown): DeliverOptions {
  if (options === undefined) return NO_OPTIONS;
  const read = readOptions<DeliverOptions>(options, "options", DELIVER_KEYS);
  const { signal, onWait, replay, whenHeld } = read;
  if (whenHeld !== undefined && whenHeld !== "wait" && whenHeld !== "skip") {
    invalidArgument("options.whenHeld", `must be "wait" or "skip", got ${describe(whenHeld)}`);
  }
  if (
    signal !== undefined &&
    !reading(
      "options.signal",
      () => signal instanceof AbortSignal && typeof signal.aborted === "boolean",
    )
  ) {
    invalidArgument("options.signal", `must be an AbortSignal, got ${describe(signal)}`);
  }
  optionalFunction(onWait, "options.onWait");
  if (replay !== undefined) checkBoolean(replay, "options.replay");
  return read;
}
