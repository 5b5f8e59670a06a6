/**
 * One simulated run's world: the ledger (reopened after a restart), the user's sinks with
 * their injected faults, and, for each incarnation of a process, its gated view of both
 * (a ledger whose calls are gates, guards built on it with virtual clocks, timers and
 * sleeps, and sinks whose calls are gates). What the gates see is written to the history
 * and told to the {@link Model}.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Checksum, checksum } from "../../checksum/checksum.js";
import {
  type GuardSinkOptions,
  guardSink,
  type SinkGuard,
  type SinkWriter,
} from "../../delivery/guard.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { InvalidArgumentError, isSinkproofError } from "../../errors.js";
import { describe, errorText, invalidArgument } from "../../internal/arguments.js";
import {
  checkBoolean,
  checkFunction,
  checkHasMethod,
  optionalFunction,
} from "../../internal/checks.js";
import { optionKeys, readOptions } from "../../internal/options.js";
import { createSeededRandom } from "../../internal/random.js";
import { MemoryLedger } from "../../ledger/memory.js";
import type {
  AppendResult,
  ClaimResult,
  Ledger,
  LedgerEntry,
  Receipt,
  ReconcileCheckpoint,
} from "../../ledger/types.js";
import type {
  Observation,
  ObserveRange,
  ReconcileReport,
  ReconcileSink,
} from "../../reconcile/types.js";
import {
  injectedLedgerError,
  LEDGER_CALLS,
  LEDGER_SCANS,
  type LedgerMethod,
  wrapLedger,
} from "../ledger-wrap.js";
import { foldRows, type Held, Model } from "./checker.js";
import type { SimConfig, SimFault, SimSink } from "./options.js";
import { type Incarnation, type OpFault, Scheduler, type SimProcess } from "./scheduler.js";

/** Virtual time starts here: 2026-01-01T00:00:00Z. */
export const SIM_EPOCH: number = Date.UTC(2026, 0, 1);

/** One sink of the run: the user's code, and the faults on it. */
export interface SinkState {
  readonly name: string;
  readonly sink: SimSink;
  readonly fenced: boolean;
  /** Writes are refused until this virtual time. */
  outageUntil: number;
}

/** A reconciler's view of one pass: the sinks as its `observe` calls read them. */
export type Snapshots = Map<string, ReadonlyMap<string, Held>>;

/** What one incarnation works with. */
export interface LifeKit {
  readonly ledger: Ledger;
  readonly guards: readonly SinkGuard[];
  readonly clock: () => number;
  /** The sinks for reconcile and repair, observing into `snapshots`. */
  reconcileSinks(snapshots: Snapshots): ReconcileSink[];
}

/** Collects an iterable or async iterable into an array. */
export async function collect<T>(items: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items as AsyncIterable<T>) out.push(item);
  return out;
}

/** The world of one run. */
export class World {
  readonly config: SimConfig;
  readonly sched: Scheduler = new Scheduler(SIM_EPOCH);
  readonly model: Model = new Model();
  readonly history: string[] = [];
  readonly sinks: Map<string, SinkState> = new Map();
  /** The faults injected, in step order: what `schedule` replays. */
  readonly injected: SimFault[] = [];
  readonly processes: SimProcess[] = [];
  /** Reconciliations made since the last check, with what their `observe` calls read. */
  readonly reports: { report: ReconcileReport; snapshots: Snapshots; step: number }[] = [];
  /** Draws scheduling choices. */
  readonly pick: () => number;
  /** Draws faults (unused when a schedule is given). */
  readonly faultRandom: () => number;
  /** Draws workload values and retry jitter. */
  readonly work: () => number;
  ledger!: Ledger;
  /** A fresh directory for this run's files, removed at its end. */
  directory = "";
  openings = 0;
  step = 0;
  /** False in the end phase: no fault is injected. */
  faulty = true;
  /** Whether reconcilers may run incremental passes (false once the ledger says it keeps no checkpoints). */
  checkpoints = true;
  readonly stats = {
    operations: 0,
    crashes: 0,
    pauses: 0,
    outages: 0,
    clockJumps: 0,
    ledgerRestarts: 0,
    ledgerFaults: 0,
    writeFaults: 0,
    reconciles: 0,
    repairs: 0,
    compactions: 0,
  };

  constructor(config: SimConfig) {
    this.config = config;
    this.pick = createSeededRandom(config.seed);
    this.faultRandom = createSeededRandom((config.seed ^ 0x5bd1e995) >>> 0);
    this.work = createSeededRandom((config.seed ^ 0x27d4eb2f) >>> 0);
  }

  /** Makes the run's directory, opens the ledger and makes the sinks. */
  async open(): Promise<void> {
    this.directory = mkdtempSync(join(tmpdir(), "sinkproof-simulate-"));
    this.ledger = await made("options.ledger", () => this.#openLedger());
    for (const [name, factory] of this.config.sinks) {
      const random = createSeededRandom((this.config.seed ^ hashName(name)) >>> 0);
      const directory = this.directory;
      const sink = await made(`options.sinks.${name}`, () =>
        factory({ name, clock: () => this.sched.now, random, directory }),
      );
      this.sinks.set(name, {
        name,
        sink: checkSink(sink, `options.sinks.${name}()`),
        fenced: sink.fenced === true,
        outageUntil: 0,
      });
    }
  }

  async #openLedger(): Promise<Ledger> {
    const clock = () => this.sched.now;
    const made =
      this.config.ledger === undefined
        ? new MemoryLedger({ clock })
        : await this.config.ledger({ clock, opening: this.openings, directory: this.directory });
    this.openings++;
    for (const method of [...LEDGER_CALLS, ...LEDGER_SCANS])
      checkHasMethod(made, method, "options.ledger()", "a ledger");
    return made;
  }

  /**
   * Closes the ledger and opens it again. A ledger whose claims live in the process that
   * opened it (`capabilities.claims: "process"`, a FileLedger) restarts with that process:
   * every simulated process crashes with it, and starts again half a claim TTL later.
   */
  async restartLedger(): Promise<void> {
    const inProcess = this.ledger.capabilities.claims === "process";
    await this.ledger.close();
    if (inProcess) {
      for (const process of this.processes) {
        if (!process.life.alive || process.finished) continue;
        this.log(`${process.life.label} crashes with the ledger's process`);
        this.sched.kill(process.life);
        process.paused = false;
        process.restartAt = this.sched.now + Math.ceil(this.config.claimTtlMs / 2);
        this.stats.crashes++;
      }
    }
    this.ledger = await this.#openLedger();
    this.stats.ledgerRestarts++;
  }

  /** Removes the run's directory (after the ledger is closed). */
  removeDirectory(): void {
    if (this.directory !== "") rmSync(this.directory, { recursive: true, force: true });
  }

  log(line: string): void {
    this.history.push(`${this.step} ${line}`);
  }

  /** The clock of a process: virtual time plus its skew. */
  clockOf(process: SimProcess): () => number {
    return () => Math.max(0, this.sched.now + process.skewMs);
  }

  /** Everything one incarnation works with, made fresh for it (its memory). */
  kit(life: Incarnation): LifeKit {
    const ledger = this.#gatedLedger(life);
    const clock = this.clockOf(life.process);
    const guards = [...this.sinks.values()].map((state) => this.#guard(life, ledger, clock, state));
    return {
      ledger,
      guards,
      clock,
      reconcileSinks: (snapshots) =>
        [...this.sinks.values()].map((state, i) =>
          this.#reconcileSink(life, state, guards[i] as SinkGuard, snapshots),
        ),
    };
  }

  #guard(life: Incarnation, ledger: Ledger, clock: () => number, state: SinkState): SinkGuard {
    const sched = this.sched;
    const options: GuardSinkOptions = {
      name: state.name,
      ledger,
      write: this.#writer(life, state),
      owner: life.label,
      clock,
      claimTtlMs: this.config.claimTtlMs,
      pollMs: Math.max(1, Math.floor(this.config.claimTtlMs / 10)),
      concurrency: 4,
      retry: {
        attempts: 3,
        baseDelayMs: 20,
        maxDelayMs: 500,
        random: this.work,
        sleep: (ms, signal) => sched.sleep(life, ms, signal),
      },
      timers: {
        setInterval: (tick, ms) => sched.setInterval(life, tick, ms),
        clearInterval: (handle) => sched.clearInterval(handle),
      },
    };
    return (this.config.guard ?? guardSink)(options);
  }

  #gatedLedger(life: Incarnation): Ledger {
    return wrapLedger(
      () => this.ledger,
      (method, args, invoke) =>
        this.sched.gate(life, "ledger", method, async (fault) => {
          const what = `${life.label} ledger.${method}(${describeArgs(method, args)})`;
          if (fault === "fail") {
            this.log(`${what} ! injected failure`);
            throw injectedLedgerError(method, false);
          }
          let result: unknown;
          try {
            result = await invoke();
          } catch (error) {
            this.log(`${what} ! ${errorCode(error)}`);
            throw error;
          }
          this.#saw(life, method, args, result);
          this.log(
            `${what} -> ${describeResult(method, result)}${fault === "ambiguous" ? " ! injected lost answer" : ""}`,
          );
          if (fault === "ambiguous") throw injectedLedgerError(method, true);
          return result;
        }),
    );
  }

  /** Tells the model what a ledger call did. */
  #saw(life: Incarnation, method: LedgerMethod, args: readonly unknown[], result: unknown): void {
    const model = this.model;
    if (method === "append") {
      for (const r of (result as AppendResult).results)
        model.emitted.set(r.entry.envelope.key, r.entry.envelope.checksum);
    } else if (method === "claim") {
      const claimed = result as ClaimResult;
      if (claimed.status === "acquired")
        model.granted(
          claimed.claim.sink,
          claimed.claim.key,
          claimed.claim.fencingToken,
          life.label,
        );
    } else if (method === "claimMany") {
      for (const claimed of result as readonly ClaimResult[]) {
        if (claimed.status === "acquired")
          model.granted(
            claimed.claim.sink,
            claimed.claim.key,
            claimed.claim.fencingToken,
            life.label,
          );
      }
    } else if (method === "putCheckpoint") {
      model.checkpointStored(args[0] as ReconcileCheckpoint);
    } else if (method === "putReceipt") {
      model.receipt(args[0] as Receipt, this.step);
    } else if (method === "putReceipts") {
      const statuses = result as readonly string[];
      (args[0] as readonly Receipt[]).forEach((receipt, i) => {
        if (statuses[i] === "stored") model.receipt(receipt, this.step);
      });
    } else if (method === "getWatermark" || method === "advanceWatermark") {
      model.watermark(args[0] as string, result as number, this.step);
    }
  }

  #writer(life: Incarnation, state: SinkState): SinkWriter {
    return (envelope, ctx) => {
      this.model.checkToken(state.name, envelope.key, ctx.fencingToken, life.label, this.step);
      return this.sched.gate(life, state.name, "write", async (fault) => {
        const what = `${life.label} ${state.name}.write(${envelope.key} token ${ctx.fencingToken})`;
        if (this.sched.now < state.outageUntil) {
          this.log(`${what} ! outage`);
          throw new Error(`${state.name} is offline (simulated outage)`);
        }
        this.model.wrote(state.name, envelope.key, ctx.fencingToken);
        if (fault === "drop") {
          this.log(`${what} ! dropped`);
          return undefined;
        }
        let written = envelope;
        if (fault === "corrupt") {
          written = corrupt(envelope, this.step);
          this.model.corrupted(state.name, envelope.key, written.checksum);
        }
        const { name } = state;
        const { key } = envelope;
        // Superseded: a newer claim was granted (the sink may refuse this write). Fenced
        // off: a write under a newer claim was stored (a fenced sink must refuse it).
        const stale = ctx.fencingToken < this.model.latestToken(name, key);
        const fencedOff = state.fenced && ctx.fencingToken < this.model.appliedToken(name, key);
        const before = fencedOff ? await this.rowOf(state, key) : undefined;
        const result = await state.sink.write(written, ctx);
        if (fault === "duplicate") await state.sink.write(written, ctx);
        if (!fencedOff) this.model.applied(name, key, ctx.fencingToken);
        if (!stale) {
          // Read-your-writes: an acknowledged write of the current claim is held at once.
          const row = await this.rowOf(state, envelope.key);
          if (row === undefined || !row.checksums.includes(written.checksum)) {
            this.model.violate({
              kind: "lost",
              step: this.step,
              sink: state.name,
              key: envelope.key,
              message: `${state.name} acknowledged the write of ${envelope.key} (token ${ctx.fencingToken}) and does not hold it`,
            });
          }
        }
        if (fencedOff) {
          const after = await this.rowOf(state, envelope.key);
          if (JSON.stringify(before) !== JSON.stringify(after)) {
            this.model.violate({
              kind: "stale-write",
              step: this.step,
              sink: state.name,
              key: envelope.key,
              message: `${name} is fenced, yet a write of ${key} under token ${ctx.fencingToken} changed what it holds after a write under token ${this.model.appliedToken(name, key)} was stored`,
            });
          }
        }
        this.log(`${what}${fault === undefined ? "" : ` ! ${fault}d`}${stale ? " (stale)" : ""}`);
        return result;
      });
    };
  }

  #reconcileSink(
    life: Incarnation,
    state: SinkState,
    guard: SinkGuard,
    snapshots: Snapshots,
  ): ReconcileSink {
    const sched = this.sched;
    const { sink, name } = state;
    const self = this;
    const gatedChange =
      <A>(method: string, change: (arg: A) => Promise<void> | void, label: (arg: A) => string) =>
      (arg: A) =>
        sched.gate(life, name, method, async () => {
          if (sched.now < state.outageUntil) {
            self.log(`${life.label} ${name}.${method}(${label(arg)}) ! outage`);
            throw new Error(`${name} is offline (simulated outage)`);
          }
          await change(arg);
          self.log(`${life.label} ${name}.${method}(${label(arg)})`);
        });
    return {
      name,
      lagToleranceMs: this.config.lagToleranceMs,
      guard,
      observe(range: ObserveRange): AsyncIterable<Observation> {
        return (async function* () {
          const rows = await sched.gate(life, name, "observe", async () => {
            const read = await observed(state, range);
            snapshots.set(name, foldRows(read));
            self.log(`${life.label} ${name}.observe() -> ${read.length} rows`);
            return read;
          });
          yield* rows;
        })();
      },
      ...(sink.rewrite === undefined
        ? {}
        : {
            rewrite: gatedChange<Envelope>(
              "rewrite",
              (e) => sink.rewrite?.(e),
              (e) => e.key,
            ),
          }),
      ...(sink.remove === undefined
        ? {}
        : {
            remove: gatedChange<string>(
              "remove",
              async (k) => {
                await sink.remove?.(k);
                self.model.removed(name, k);
              },
              (k) => k,
            ),
          }),
    };
  }

  /** True when repair can fix a corrupted row of the sink (it has `rewrite` or `remove`). */
  repairable(sink: string): boolean {
    const state = this.sinks.get(sink);
    return state?.sink.rewrite !== undefined || state?.sink.remove !== undefined;
  }

  /** What a sink holds now, read directly (the checker's view, not a process's). */
  async held(state: SinkState): Promise<Map<string, Held>> {
    return foldRows(await observed(state));
  }

  /** One key as the sink holds it now. */
  async rowOf(state: SinkState, key: string): Promise<Held | undefined> {
    return (await this.held(state)).get(key);
  }

  /** Every ledger entry, by key, read directly. */
  async entries(): Promise<Map<string, LedgerEntry>> {
    const byKey = new Map<string, LedgerEntry>();
    for await (const entry of this.ledger.scan()) byKey.set(entry.envelope.key, entry);
    return byKey;
  }

  /** The fault an operation run now gets, drawn (or taken from the schedule). */
  opFault(target: string, method: string, scheduled: SimFault | undefined): OpFault | undefined {
    if (!this.faulty) return undefined;
    const isWrite = target !== "ledger" && method === "write";
    const isLedger = target === "ledger" && method !== "close";
    if (this.config.schedule !== undefined) {
      const kind = scheduled?.kind;
      let fault: OpFault | undefined;
      if (isLedger && (kind === "fail" || kind === "ambiguous" || kind === "hang")) fault = kind;
      if (isWrite && (kind === "drop" || kind === "duplicate" || kind === "corrupt")) fault = kind;
      if (fault !== undefined) this.injected.push(Object.freeze({ step: this.step, kind: fault }));
      return fault;
    }
    const f = this.config.faults;
    const draw = this.faultRandom();
    let fault: OpFault | undefined;
    if (isLedger) {
      if (draw < f.ledgerFail) fault = "fail";
      else if (draw < f.ledgerFail + f.ledgerAmbiguous) fault = "ambiguous";
      else if (draw < f.ledgerFail + f.ledgerAmbiguous + f.ledgerHang) fault = "hang";
    } else if (isWrite) {
      if (draw < f.drop) fault = "drop";
      else if (draw < f.drop + f.duplicate) fault = "duplicate";
      // A corrupted row can be repaired only by rewrite, or by remove and a replay.
      else if (draw < f.drop + f.duplicate + f.corrupt && this.repairable(target))
        fault = "corrupt";
    }
    if (fault !== undefined) this.injected.push(Object.freeze({ step: this.step, kind: fault }));
    return fault;
  }
}

const SIM_SINK_KEYS = optionKeys<SimSink>()("write", "observe", "rewrite", "remove", "fenced");

/** What a sink factory returned, checked: the user's own object, not a copy. */
function checkSink(sink: unknown, where: string): SimSink {
  const read = readOptions<SimSink>(sink, where, SIM_SINK_KEYS, { required: true });
  checkFunction(read.write, `${where}.write`);
  checkFunction(read.observe, `${where}.observe`);
  optionalFunction(read.rewrite, `${where}.rewrite`);
  optionalFunction(read.remove, `${where}.remove`);
  if (read.fenced !== undefined && typeof read.fenced !== "boolean")
    checkBoolean(read.fenced, `${where}.fenced`);
  return sink as SimSink;
}

/**
 * Runs a factory of the caller's before the first step: what it throws is a mistake in
 * the options, an `InvalidArgumentError` at `where` with the error as its cause (a
 * sinkproof error, such as a ledger's own refusal, passes through).
 */
async function made<T>(where: string, make: () => Promise<T> | T): Promise<T> {
  try {
    return await make();
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} threw while making it: ${errorText(error)}`,
      {
        path: where,
        cause: error,
      },
    );
  }
}

/**
 * Reads a sink back, checked: an iterable (or async iterable) of observations, each an
 * object with a string `key`. What the sink's own `observe` throws passes through.
 */
async function observed(state: SinkState, range?: ObserveRange): Promise<Observation[]> {
  const where = `options.sinks.${state.name}().observe()`;
  const items = state.sink.observe(range);
  const iterable =
    items !== null &&
    typeof items === "object" &&
    (Symbol.iterator in items || Symbol.asyncIterator in items);
  if (!iterable)
    invalidArgument(where, `must return an iterable of observations, got ${describe(items)}`);
  const rows = await collect(items);
  rows.forEach((row, i) => {
    if (
      typeof row !== "object" ||
      row === null ||
      typeof (row as { key?: unknown }).key !== "string"
    )
      invalidArgument(
        `${where}[${i}]`,
        `must be an observation { key, checksum?, payload?, count? }, got ${describe(row)}`,
      );
  });
  return rows;
}

/** The envelope a corrupt write stores: another payload, with that payload's checksum. */
function corrupt(envelope: Envelope, step: number): Envelope {
  const payload = envelope.payload;
  const altered: JsonValue =
    typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? { ...payload, corruptedAt: step }
      : { corrupted: payload, corruptedAt: step };
  const algorithm = envelope.checksum.startsWith("sha256:") ? "sha256" : "xxh64";
  return { ...envelope, payload: altered, checksum: checksum(altered, { algorithm }) as Checksum };
}

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function errorCode(error: unknown): string {
  if (isSinkproofError(error)) return error.code;
  return errorText(error).slice(0, 80);
}

/** The arguments of a ledger call, as the history shows them (no random claim tokens). */
function describeArgs(method: LedgerMethod, args: readonly unknown[]): string {
  switch (method) {
    case "append":
      return (args[0] as readonly Envelope[]).map((e) => e.key).join(",");
    case "putReceipt": {
      const r = args[0] as Receipt;
      return `${r.sink} ${r.key} ${r.status} token ${r.fencingToken ?? "-"}`;
    }
    case "renewClaim":
    case "releaseClaim": {
      const c = args[0] as { sink: string; key: string; fencingToken: number };
      return `${c.sink} ${c.key} token ${c.fencingToken}`;
    }
    case "putReceipts":
      return (args[0] as readonly Receipt[])
        .map((r) => `${r.sink} ${r.key} ${r.status} token ${r.fencingToken ?? "-"}`)
        .join(", ");
    case "releaseClaims":
      return (args[0] as readonly { sink: string; key: string; fencingToken: number }[])
        .map((c) => `${c.sink} ${c.key} token ${c.fencingToken}`)
        .join(", ");
    case "getMany":
      return (args[0] as readonly string[]).join(",");
    case "claimMany":
      return `${String(args[0])} ${(args[1] as readonly string[]).join(",")}`;
    case "claim":
    case "getReceipts":
    case "advanceWatermark":
      return `${String(args[0])} ${String(args[1])}`;
    case "get":
    case "getWatermark":
    case "getFreezes":
    case "scanReceipts":
      return String(args[0]);
    default:
      return "";
  }
}

function describeResult(method: LedgerMethod, result: unknown): string {
  switch (method) {
    case "append":
      return (result as AppendResult).results
        .map((r) => `${r.entry.position}${r.status === "existing" ? "=" : ""}`)
        .join(",");
    case "claim": {
      const c = result as ClaimResult;
      return c.status === "acquired" ? `acquired token ${c.claim.fencingToken}` : c.status;
    }
    case "claimMany":
      return (result as readonly ClaimResult[])
        .map((c) => (c.status === "acquired" ? `acquired token ${c.claim.fencingToken}` : c.status))
        .join(",");
    case "putReceipts":
      return (result as readonly string[]).join(",");
    case "head":
    case "getWatermark":
    case "advanceWatermark":
      return String(result);
    case "scan":
    case "scanReceipts":
    case "scanAudit": {
      const step = result as IteratorResult<{ position?: number; key?: string }>;
      return step.done === true ? "done" : `${step.value.position ?? ""} ${step.value.key ?? ""}`;
    }
    default:
      return "ok";
  }
}
