/**
 * The options of `simulate`, their defaults, and the fault schedule: read and checked
 * once, strictly (an unknown key is an `InvalidArgumentError` naming the key meant, as
 * everywhere else), into a {@link SimConfig}.
 *
 * @module
 */

import type { GuardSinkOptions, SinkGuard, SinkWriter } from "../../delivery/guard.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { describe, invalidArgument, reading } from "../../internal/arguments.js";
import { checkFunction, checkInteger, optionalInteger } from "../../internal/checks.js";
import { optionKeys, readArray, readOptions } from "../../internal/options.js";
import type { Ledger } from "../../ledger/types.js";
import { checkName } from "../../ledger/validate.js";
import type { Observation, ObserveRange } from "../../reconcile/types.js";

/** What a ledger factory is told. */
export interface SimLedgerContext {
  /** The ledger's clock: virtual time, ms since the epoch. Give it to the ledger. */
  readonly clock: () => number;
  /** 0 for the first opening, then 1, 2, … after each simulated ledger restart. */
  readonly opening: number;
  /**
   * A fresh, empty directory for this run (each run of a shrink too), removed when the run
   * ends: open a FileLedger or a SQLite file in it, and every opening of the run finds the
   * same storage.
   */
  readonly directory: string;
}

/** What a sink factory is told. */
export interface SimSinkContext {
  /** The sink's name. */
  readonly name: string;
  /** Virtual time, ms since the epoch. */
  readonly clock: () => number;
  /** A seeded random number in [0, 1): the same every run of the seed. */
  readonly random: () => number;
  /** The run's directory (see {@link SimLedgerContext.directory}), for a sink's files. */
  readonly directory: string;
}

/**
 * The user's own sink code, as a sink factory returns it: the writer a guard calls, and
 * what reconcile and repair read and change.
 */
export interface SimSink {
  /** The sink's writer, called by the real guard with its real context. */
  readonly write: SinkWriter;
  /** Reads back every key the sink holds (read by reconcile, and by the checker). */
  readonly observe: (range?: ObserveRange) => Iterable<Observation> | AsyncIterable<Observation>;
  /** Overwrites a key with the envelope (repair of a mismatched entry). */
  readonly rewrite?: ((envelope: Envelope) => Promise<void> | void) | undefined;
  /** Removes every copy of a key (repair of a duplicate or an unexpected key). */
  readonly remove?: ((key: string) => Promise<void> | void) | undefined;
  /**
   * The sink stores each row's fencing token and refuses a write under a lower one (see
   * docs/sinks.md). The checker then requires that a write under a lower token than one
   * the sink stored changes nothing it holds.
   * @default false
   */
  readonly fenced?: boolean | undefined;
}

/** Makes one sink for a run; called once per run, before the first step. */
export type SimSinkFactory = (context: SimSinkContext) => SimSink | Promise<SimSink>;

/**
 * How often each fault happens: a probability per scheduler step (process and sink
 * faults), per sink write (`drop`, `duplicate`, `corrupt`) or per ledger operation
 * (`ledgerFail`, `ledgerAmbiguous`, `ledgerHang`). 0 turns a fault off.
 */
export interface SimFaults {
  /** A process crashes (its memory lost, its claims left to expire); it restarts later. @default 0.02 */
  readonly crash?: number | undefined;
  /** A process is paused (SIGSTOP) for longer than the claim TTL, then resumes. @default 0.01 */
  readonly pause?: number | undefined;
  /** A sink refuses every write for a while. @default 0.01 */
  readonly outage?: number | undefined;
  /** A write is acknowledged and not stored. @default 0.02 */
  readonly drop?: number | undefined;
  /** A write reaches the sink twice. @default 0.05 */
  readonly duplicate?: number | undefined;
  /** A write is stored with another payload (and that payload's checksum). @default 0.02 */
  readonly corrupt?: number | undefined;
  /** A process's clock jumps, forward or back, by up to 5 s. @default 0.01 */
  readonly clockJump?: number | undefined;
  /** Largest clock skew a process starts with, ms (either way). @default 2000 */
  readonly skewMs?: number | undefined;
  /** A ledger operation fails (`unavailable`) without effect. @default 0.01 */
  readonly ledgerFail?: number | undefined;
  /** A ledger operation takes effect and then fails: its caller never learns it did. @default 0.005 */
  readonly ledgerAmbiguous?: number | undefined;
  /** A ledger operation never returns; its process waits until it crashes. @default 0.002 */
  readonly ledgerHang?: number | undefined;
  /**
   * The ledger restarts: closed and made again by the `ledger` factory (which must
   * reopen the same storage: a FileLedger's directory, a SQLite file). Off unless set.
   * @default 0
   */
  readonly ledgerRestart?: number | undefined;
}

/** What every scheduled fault has: the scheduler step it happens at. */
export interface SimFaultAt {
  /** The scheduler step (0-based) at which the fault is injected. */
  readonly step: number;
}

/** A process crashes (its memory lost) and restarts `restartMs` later. */
export interface SimCrashFault extends SimFaultAt {
  /** A crash. */
  readonly kind: "crash";
  /** The process: `producer-1`, `deliverer-2`, `reconciler-1`, … */
  readonly process: string;
  /** How long after the crash it starts again, ms of virtual time. */
  readonly restartMs: number;
}

/** A process stops for `ms` (SIGSTOP): its gates and timers wait, its claims are not renewed. */
export interface SimPauseFault extends SimFaultAt {
  /** A pause. */
  readonly kind: "pause";
  /** The process. */
  readonly process: string;
  /** How long, ms of virtual time. */
  readonly ms: number;
}

/** A process's clock moves by `ms`. */
export interface SimClockJumpFault extends SimFaultAt {
  /** A clock jump. */
  readonly kind: "clock-jump";
  /** The process. */
  readonly process: string;
  /** By how much, ms; negative moves the clock back. */
  readonly ms: number;
}

/** A sink refuses every write, rewrite and remove for `ms`. */
export interface SimOutageFault extends SimFaultAt {
  /** An outage. */
  readonly kind: "outage";
  /** The sink, as named in `options.sinks`. */
  readonly sink: string;
  /** How long, ms of virtual time. */
  readonly ms: number;
}

/** The ledger is closed and opened again with the `ledger` factory. */
export interface SimLedgerRestartFault extends SimFaultAt {
  /** A ledger restart. */
  readonly kind: "ledger-restart";
}

/**
 * A fault on the one operation run at this step: a ledger call fails (`fail`), fails
 * after taking effect (`ambiguous`) or never returns (`hang`); a sink write is dropped,
 * duplicated or corrupted. It does nothing when the operation is of the other kind.
 */
export interface SimOperationFault extends SimFaultAt {
  /** Which fault. */
  readonly kind: "fail" | "ambiguous" | "hang" | "drop" | "duplicate" | "corrupt";
}

/** One fault of a run, at the scheduler step it happened: what `schedule` replays. */
export type SimFault =
  | SimCrashFault
  | SimPauseFault
  | SimClockJumpFault
  | SimOutageFault
  | SimLedgerRestartFault
  | SimOperationFault;

/** The kinds of {@link SimFault}. */
export type SimFaultKind = SimFault["kind"];

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** The seed: an integer from 0 to 2^32 - 1. The same seed and options give the same run. */
  readonly seed: number;
  /**
   * Scheduler steps before the end phase (each runs one operation, fires due timers or
   * injects a fault).
   * @default 300
   */
  readonly steps?: number | undefined;
  /**
   * Makes the ledger, with the clock it is given. Called again after each ledger restart.
   * @default (ctx) => new MemoryLedger({ clock: ctx.clock })
   */
  readonly ledger?: ((context: SimLedgerContext) => Ledger | Promise<Ledger>) | undefined;
  /** The sinks, by name: each factory returns the user's own sink code. At least one. */
  readonly sinks: Readonly<Record<string, SimSinkFactory>>;
  /** Which faults, how often. */
  readonly faults?: SimFaults | undefined;
  /** Producer processes, each publishing its own events. @default 2 */
  readonly producers?: number | undefined;
  /** Deliverer processes, each draining every sink in a loop. @default 2 */
  readonly deliverers?: number | undefined;
  /** Reconciler processes, each reconciling (and repairing what it finds) in a loop. @default 1 */
  readonly reconcilers?: number | undefined;
  /** Events each producer publishes. @default 10 */
  readonly events?: number | undefined;
  /** Makes each event's payload. @default `{ producer, n, amount }` with a seeded amount */
  readonly payload?: ((producer: string, n: number, random: () => number) => JsonValue) | undefined;
  /** The guards' claim TTL, ms of virtual time. @default 1000 */
  readonly claimTtlMs?: number | undefined;
  /**
   * The sinks' lag tolerance for reconcile, ms. Short by default, so that reconcilers
   * find entries lost (and repair races the deliverers) while the run goes on.
   * @default 1000
   */
  readonly lagToleranceMs?: number | undefined;
  /**
   * Makes each guard from the options the simulator chose (virtual clock, timers, sleep,
   * seeded retries): wrap or change them to test your own guard setup, or to plant a bug.
   * @default guardSink
   */
  readonly guard?: ((options: GuardSinkOptions) => SinkGuard) | undefined;
  /**
   * The faults to inject, instead of drawing them from the seed: a failing run's
   * `shrunk.schedule` (or `schedule`) replays it.
   */
  readonly schedule?: readonly SimFault[] | undefined;
  /**
   * On a failing run, look for the smallest fault schedule that still fails, re-running at
   * most this many times (`true`: 200, `false` or 0: no shrinking).
   * @default true
   */
  readonly shrink?: boolean | number | undefined;
}

/** {@link SimFaults} with every default filled in. */
export type FaultRates = { readonly [K in keyof SimFaults]-?: number };

/** {@link SimulateOptions} checked, with every default filled in. */
export interface SimConfig {
  readonly seed: number;
  readonly steps: number;
  readonly ledger: ((context: SimLedgerContext) => Ledger | Promise<Ledger>) | undefined;
  readonly sinks: readonly (readonly [string, SimSinkFactory])[];
  readonly faults: FaultRates;
  readonly producers: number;
  readonly deliverers: number;
  readonly reconcilers: number;
  readonly events: number;
  readonly payload: ((producer: string, n: number, random: () => number) => JsonValue) | undefined;
  readonly claimTtlMs: number;
  readonly lagToleranceMs: number;
  readonly guard: ((options: GuardSinkOptions) => SinkGuard) | undefined;
  readonly schedule: readonly SimFault[] | undefined;
  readonly shrink: number;
}

const SIMULATE_KEYS = optionKeys<SimulateOptions>()(
  "seed",
  "steps",
  "ledger",
  "sinks",
  "faults",
  "producers",
  "deliverers",
  "reconcilers",
  "events",
  "payload",
  "claimTtlMs",
  "lagToleranceMs",
  "guard",
  "schedule",
  "shrink",
);

const FAULT_DEFAULTS: FaultRates = {
  crash: 0.02,
  pause: 0.01,
  outage: 0.01,
  drop: 0.02,
  duplicate: 0.05,
  corrupt: 0.02,
  clockJump: 0.01,
  skewMs: 2000,
  ledgerFail: 0.01,
  ledgerAmbiguous: 0.005,
  ledgerHang: 0.002,
  ledgerRestart: 0,
};
const FAULT_KEYS = optionKeys<SimFaults>()(
  "crash",
  "pause",
  "outage",
  "drop",
  "duplicate",
  "corrupt",
  "clockJump",
  "skewMs",
  "ledgerFail",
  "ledgerAmbiguous",
  "ledgerHang",
  "ledgerRestart",
);

/** The keys each kind of scheduled fault has. */
const SCHEDULED_KEYS: Readonly<Record<SimFaultKind, readonly string[]>> = {
  crash: ["step", "kind", "process", "restartMs"],
  pause: ["step", "kind", "process", "ms"],
  "clock-jump": ["step", "kind", "process", "ms"],
  outage: ["step", "kind", "sink", "ms"],
  "ledger-restart": ["step", "kind"],
  fail: ["step", "kind"],
  ambiguous: ["step", "kind"],
  hang: ["step", "kind"],
  drop: ["step", "kind"],
  duplicate: ["step", "kind"],
  corrupt: ["step", "kind"],
};

/** Reads and checks the options of `simulate`, in the order of the keys. */
export function resolveSimulateOptions(given: SimulateOptions): SimConfig {
  const o = readOptions<SimulateOptions>(given, "options", SIMULATE_KEYS, { required: true });
  const seed = checkInteger(o.seed, "options.seed", 0, 0xffff_ffff);
  const steps = optionalInteger(o.steps, "options.steps", 1, 10_000_000, 300);
  const ledger = o.ledger === undefined ? undefined : checkFunction(o.ledger, "options.ledger");
  const sinks = reading("options.sinks", () => readSinks(o.sinks));
  const faults = readFaults(o.faults);
  const producers = optionalInteger(o.producers, "options.producers", 1, 100, 2);
  const deliverers = optionalInteger(o.deliverers, "options.deliverers", 0, 100, 2);
  const reconcilers = optionalInteger(o.reconcilers, "options.reconcilers", 0, 100, 1);
  const events = optionalInteger(o.events, "options.events", 1, 1_000_000, 10);
  const payload = o.payload === undefined ? undefined : checkFunction(o.payload, "options.payload");
  const claimTtlMs = optionalInteger(o.claimTtlMs, "options.claimTtlMs", 10, 86_400_000, 1000);
  const lagToleranceMs = optionalInteger(
    o.lagToleranceMs,
    "options.lagToleranceMs",
    0,
    86_400_000,
    1000,
  );
  if (faults.ledgerRestart > 0 && ledger === undefined)
    invalidArgument(
      "options.faults.ledgerRestart",
      "needs options.ledger: a factory that reopens the same storage (the default MemoryLedger cannot be reopened)",
    );
  const guard = o.guard === undefined ? undefined : checkFunction(o.guard, "options.guard");
  const schedule =
    o.schedule === undefined
      ? undefined
      : reading("options.schedule", () =>
          readSchedule(o.schedule, sinks, processNames(), ledger !== undefined),
        );
  let shrink = 200;
  if (typeof o.shrink === "boolean") shrink = o.shrink ? 200 : 0;
  else if (o.shrink !== undefined) shrink = checkInteger(o.shrink, "options.shrink", 0, 100_000);
  return {
    seed,
    steps,
    ledger,
    sinks,
    faults,
    producers,
    deliverers,
    reconcilers,
    events,
    payload,
    claimTtlMs,
    lagToleranceMs,
    guard,
    schedule,
    shrink,
  };

  function processNames(): ReadonlySet<string> {
    const names = new Set<string>();
    for (let i = 1; i <= producers; i++) names.add(`producer-${i}`);
    for (let i = 1; i <= deliverers; i++) names.add(`deliverer-${i}`);
    for (let i = 1; i <= reconcilers; i++) names.add(`reconciler-${i}`);
    return names;
  }
}

function readSinks(value: unknown): readonly (readonly [string, SimSinkFactory])[] {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    invalidArgument("options.sinks", `must be an object of sink factories, got ${describe(value)}`);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) invalidArgument("options.sinks", "must name at least one sink");
  return entries.map(([name, factory]) => {
    checkName(name, `options.sinks.${name}`);
    return [name, checkFunction(factory as SimSinkFactory, `options.sinks.${name}`)] as const;
  });
}

function readFaults(value: unknown): FaultRates {
  const read = readOptions<SimFaults>(value, "options.faults", FAULT_KEYS);
  const rates: Record<string, number> = { ...FAULT_DEFAULTS };
  for (const key of FAULT_KEYS) {
    const given = read[key];
    if (given === undefined) continue;
    const where = `options.faults.${key}`;
    if (key === "skewMs") rates[key] = checkInteger(given, where, 0, 86_400_000);
    else if (typeof given !== "number" || !(given >= 0 && given <= 1))
      invalidArgument(where, `must be a probability from 0 to 1, got ${describe(given)}`);
    else rates[key] = given;
  }
  // Each operation draws one of its faults: their probabilities share one draw.
  const r = rates as FaultRates;
  if (r.ledgerFail + r.ledgerAmbiguous + r.ledgerHang > 1)
    invalidArgument(
      "options.faults",
      "ledgerFail + ledgerAmbiguous + ledgerHang must be at most 1",
    );
  if (r.drop + r.duplicate + r.corrupt > 1)
    invalidArgument("options.faults", "drop + duplicate + corrupt must be at most 1");
  return r;
}

function readSchedule(
  value: unknown,
  sinks: readonly (readonly [string, SimSinkFactory])[],
  processes: ReadonlySet<string>,
  hasLedger: boolean,
): readonly SimFault[] {
  const sinkNames = new Set(sinks.map(([name]) => name));
  return readArray(value, "options.schedule").map((item, i) => {
    const where = `options.schedule[${i}]`;
    if (typeof item !== "object" || item === null)
      invalidArgument(where, `must be a fault, got ${describe(item)}`);
    const kind = reading(`${where}.kind`, () => (item as { kind?: unknown }).kind);
    const keys = typeof kind === "string" ? SCHEDULED_KEYS[kind as SimFaultKind] : undefined;
    if (keys === undefined || !Object.hasOwn(SCHEDULED_KEYS, kind as string))
      invalidArgument(
        `${where}.kind`,
        `must be one of ${Object.keys(SCHEDULED_KEYS).join(", ")}, got ${describe(kind)}`,
      );
    const read = readOptions<Record<string, unknown>>(item, where, keys as string[], {
      what: `a field of a ${kind} fault`,
    });
    const step = checkInteger(read.step, `${where}.step`, 0, 10_000_000);
    if (kind === "ledger-restart" && !hasLedger)
      invalidArgument(
        `${where}.kind`,
        "a ledger restart needs options.ledger: a factory that reopens the same storage",
      );
    const fault: Record<string, unknown> = { step, kind };
    if (keys.includes("process")) {
      const name = read.process;
      if (typeof name !== "string" || !processes.has(name))
        invalidArgument(
          `${where}.process`,
          `must name a simulated process (${[...processes].join(", ")}), got ${describe(name)}`,
        );
      fault.process = name;
    }
    if (keys.includes("sink")) {
      if (typeof read.sink !== "string" || !sinkNames.has(read.sink))
        invalidArgument(
          `${where}.sink`,
          `must name a sink of options.sinks, got ${describe(read.sink)}`,
        );
      fault.sink = read.sink;
    }
    if (keys.includes("restartMs"))
      fault.restartMs = checkInteger(read.restartMs, `${where}.restartMs`, 0, 86_400_000);
    if (keys.includes("ms")) {
      const min = kind === "clock-jump" ? -86_400_000 : 0;
      fault.ms = checkInteger(read.ms, `${where}.ms`, min, 86_400_000);
    }
    return Object.freeze(fault) as unknown as SimFault;
  });
}
