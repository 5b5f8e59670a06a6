/**
 * `simulate`: deterministic simulation testing of a pipeline. Several producer, deliverer
 * and reconciler processes run the real library over one ledger and the user's own sinks,
 * interleaved by a seeded scheduler on virtual time, while faults are injected: crashes at
 * any await point, pauses past the claim TTL, sink outages, dropped, duplicated and
 * corrupted writes, clock skew and jumps, failing, half-failing and hanging ledger calls,
 * ledger restarts. The checker ({@link Model}) watches every step; an end phase heals
 * every fault, drains, reconciles and repairs, and checks that every sink holds exactly
 * what the ledger holds.
 *
 * The same seed and options give the same history, byte for byte (`digest`). A failing
 * run is shrunk: its fault schedule is cut down to the smallest one that still fails,
 * which `schedule` replays.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createSeededRandom } from "../../internal/random.js";
import type { Ledger } from "../../ledger/types.js";
import type { ReconcileReport } from "../../reconcile/types.js";
import type { SimCounts, SimViolation } from "./checker.js";
import {
  resolveSimulateOptions,
  type SimConfig,
  type SimFault,
  type SimulateOptions,
} from "./options.js";
import { delivererBody, finalBody, producerBody, reconcilerBody, workload } from "./processes.js";
import { Incarnation, SimProcess, settle } from "./scheduler.js";
import { World } from "./world.js";

/** What a run did. */
export interface SimStats {
  /** Scheduler steps run before the end phase. */
  readonly steps: number;
  /** Operations (ledger and sink calls) run, end phase included. */
  readonly operations: number;
  /** Events whose publish was started. */
  readonly attempted: number;
  /** Events whose emit returned (durable, by the producer's word). */
  readonly acknowledged: number;
  /** Process crashes injected. */
  readonly crashes: number;
  /** Process pauses injected. */
  readonly pauses: number;
  /** Sink outages injected. */
  readonly outages: number;
  /** Clock jumps injected. */
  readonly clockJumps: number;
  /** Ledger restarts injected. */
  readonly ledgerRestarts: number;
  /** Ledger calls failed, half-failed or hung by injection. */
  readonly ledgerFaults: number;
  /** Sink writes dropped, duplicated or corrupted by injection. */
  readonly writeFaults: number;
  /** Reconciliations run (end phase included). */
  readonly reconciles: number;
  /** Repairs run (end phase included). */
  readonly repairs: number;
  /** Receipt compactions run by reconcilers (`compactReceipts` of a sink, after a reconcile). */
  readonly compactions: number;
}

/** The smallest fault schedule found that still fails. */
export interface ShrunkRun {
  /** Pass it as `schedule` (with the same seed and options) to replay the failure. */
  readonly schedule: readonly SimFault[];
  /** The violations of that run. */
  readonly violations: readonly SimViolation[];
  /** The digest of that run's history. */
  readonly digest: string;
  /** Runs made while shrinking. */
  readonly runs: number;
}

/** Result of {@link simulate}. */
export interface SimulationResult {
  /** No invariant was violated. */
  readonly ok: boolean;
  /** The seed: with the same options, it replays this run. */
  readonly seed: number;
  /** Every violation, in the order found. */
  readonly violations: readonly SimViolation[];
  /** Lost, duplicated, unexpected, recovered, false-consistent, false-alarm. */
  readonly counts: SimCounts;
  /** SHA-256 of the whole history, hex: equal for equal runs. */
  readonly digest: string;
  /** The history: one line per operation, fault and process event. */
  readonly history: readonly string[];
  /** The faults injected, in step order. */
  readonly schedule: readonly SimFault[];
  /** For a failing run (unless `shrink` is off): the smallest schedule that still fails. */
  readonly shrunk: ShrunkRun | undefined;
  /** What the run did. */
  readonly stats: SimStats;
}

/** Rounds of drain, reconcile and repair the end phase runs at most. */
const FINAL_ROUNDS = 6;
/** Operations the end phase runs at most (a guard against a pipeline that never settles). */
const FINAL_OPERATIONS = 200_000;

/**
 * Runs the user's pipeline through a seeded, adversarial schedule and checks every
 * invariant. See the module notes and docs/simulation.md.
 *
 * @example
 * ```ts
 * import { createMemorySink, simulate } from "sinkproof/testing";
 * const result = await simulate({
 *   seed: 42,
 *   steps: 300,
 *   sinks: { warehouse: () => createMemorySink({ name: "warehouse", observe: "both" }) },
 * });
 * if (!result.ok) console.log(result.violations, result.shrunk?.schedule);
 * ```
 */
export async function simulate(options: SimulateOptions): Promise<SimulationResult> {
  const config = resolveSimulateOptions(options);
  const run = await runOnce(config);
  let shrunk: ShrunkRun | undefined;
  if (!run.ok && config.shrink > 0) shrunk = await shrinkRun(config, run);
  return Object.freeze({ ...run, shrunk });
}

type Run = Omit<SimulationResult, "shrunk">;

/** Violation kinds that make a smaller schedule count as "still fails". */
function fails(run: Run, kind: string): boolean {
  return run.violations.some((v) => v.kind === kind);
}

/**
 * Cuts the schedule down while the run still fails with the first violation's kind:
 * chunks of half the schedule, then smaller, each removal kept when it still fails.
 */
async function shrinkRun(config: SimConfig, failing: Run): Promise<ShrunkRun> {
  const kind = (failing.violations[0] as SimViolation).kind;
  let current: readonly SimFault[] = failing.schedule;
  let best: Run = failing;
  let runs = 0;
  const attempt = async (schedule: readonly SimFault[]): Promise<boolean> => {
    runs++;
    const run = await runOnce({ ...config, schedule, shrink: 0 });
    if (!fails(run, kind)) return false;
    best = run;
    current = schedule;
    return true;
  };
  // A bug that fails with no fault at all needs no schedule.
  if (current.length > 0 && !(await attempt([]))) {
    let chunk = Math.max(1, Math.ceil(current.length / 2));
    while (runs < config.shrink) {
      let removed = false;
      for (let i = 0; i < current.length && runs < config.shrink; ) {
        const candidate = [...current.slice(0, i), ...current.slice(i + chunk)];
        if (await attempt(candidate)) removed = true;
        else i += chunk;
      }
      if (chunk === 1 && !removed) break;
      if (!removed) chunk = Math.max(1, Math.floor(chunk / 2));
    }
  }
  return Object.freeze({
    schedule: Object.freeze([...current]),
    violations: best.violations,
    digest: best.digest,
    runs,
  });
}

/** One run, from opening the ledger to the final checks; its ledger closed and its directory removed. */
async function runOnce(config: SimConfig): Promise<Run> {
  const world = new World(config);
  try {
    return await runIn(world);
  } finally {
    // A run that threw (a factory, a sink's observe) still leaves nothing behind.
    const opened = world.ledger as Ledger | undefined;
    if (opened !== undefined) await opened.close().catch(() => undefined);
    world.removeDirectory();
  }
}

async function runIn(world: World): Promise<Run> {
  const config = world.config;
  await world.open();
  const sched = world.sched;
  const skew = createSeededRandom((config.seed ^ 0x165667b1) >>> 0);
  const add = (process: SimProcess) => {
    process.skewMs = Math.round((skew() * 2 - 1) * config.faults.skewMs);
    world.processes.push(process);
  };
  for (let i = 1; i <= config.producers; i++) {
    const name = `producer-${i}`;
    const work = workload(world, name);
    add(new SimProcess(name, "producer", (life) => producerBody(world, life, work)));
  }
  for (let i = 1; i <= config.deliverers; i++)
    add(new SimProcess(`deliverer-${i}`, "deliverer", (life) => delivererBody(world, life)));
  for (let i = 1; i <= config.reconcilers; i++)
    add(new SimProcess(`reconciler-${i}`, "reconciler", (life) => reconcilerBody(world, life)));
  for (const process of world.processes) start(world, process);
  await settle();

  const byStep = new Map<number, SimFault[]>();
  for (const fault of config.schedule ?? []) {
    const list = byStep.get(fault.step) ?? [];
    list.push(fault);
    byStep.set(fault.step, list);
  }

  let steps = 0;
  for (; steps < config.steps; steps++) {
    world.step = steps;
    const scheduled = byStep.get(steps) ?? [];
    if (config.schedule === undefined) await drawStepFaults(world);
    else
      for (const fault of scheduled) {
        if (isOpFault(fault.kind)) continue;
        world.injected.push(fault);
        await applyFault(world, fault);
      }
    sched.now += 1 + Math.floor(world.pick() * 20);
    wake(world);
    if (sched.fireDue() > 0) await settle();
    const runnable = sched.runnable();
    if (runnable.length === 0) {
      const next = nextEvent(world);
      if (next !== undefined && next > sched.now) sched.now = next;
    } else {
      const gate = runnable[
        Math.floor(world.pick() * runnable.length)
      ] as (typeof runnable)[number];
      const opScheduled = scheduled.find((f) => isOpFault(f.kind));
      await runGate(world, gate, world.opFault(gate.target, gate.method, opScheduled));
    }
    await checkStep(world);
  }

  // The end phase: every fault healed, every process stopped, claims left to expire.
  world.step = steps;
  world.faulty = false;
  for (const process of world.processes) {
    sched.kill(process.life);
    process.restartAt = undefined;
    process.paused = false;
  }
  for (const state of world.sinks.values()) state.outageUntil = 0;
  sched.now += 3 * config.claimTtlMs + config.lagToleranceMs + 1;
  let final: ReconcileReport | undefined;
  let finished = false;
  const closing = new SimProcess("final", "reconciler", (life) =>
    finalBody(world, life, FINAL_ROUNDS, (report) => {
      final = report;
      finished = true;
    }),
  );
  world.processes.push(closing);
  start(world, closing);
  await settle();
  for (let ops = 0; !finished && ops < FINAL_OPERATIONS; ops++) {
    if (sched.fireDue() > 0) await settle();
    const runnable = sched.runnable();
    if (runnable.length === 0) {
      const next = sched.nextDue();
      if (next === undefined) break;
      sched.now = Math.max(sched.now, next);
      continue;
    }
    await runGate(world, runnable[0] as (typeof runnable)[number], undefined);
    await checkStep(world);
  }
  await finalChecks(world, finished ? final : undefined, finished);

  const digest = createHash("sha256").update(world.history.join("\n")).digest("hex");
  const violations = Object.freeze([...world.model.violations]);
  return Object.freeze({
    ok: violations.length === 0,
    seed: config.seed,
    violations,
    counts: world.model.counts(),
    digest,
    history: Object.freeze(world.history),
    schedule: Object.freeze([...world.injected]),
    stats: Object.freeze({
      steps,
      operations: world.stats.operations,
      attempted: world.model.attempted.size,
      acknowledged: world.model.acked.size,
      crashes: world.stats.crashes,
      pauses: world.stats.pauses,
      outages: world.stats.outages,
      clockJumps: world.stats.clockJumps,
      ledgerRestarts: world.stats.ledgerRestarts,
      ledgerFaults: world.stats.ledgerFaults,
      writeFaults: world.stats.writeFaults,
      reconciles: world.stats.reconciles,
      repairs: world.stats.repairs,
      compactions: world.stats.compactions,
    }),
  });
}

function isOpFault(kind: SimFault["kind"]): boolean {
  return ["fail", "ambiguous", "hang", "drop", "duplicate", "corrupt"].includes(kind);
}

/** Starts a new incarnation of `process`. */
function start(world: World, process: SimProcess): void {
  const life = new Incarnation(process, process.life.n + 1);
  process.life = life;
  process.restartAt = undefined;
  world.log(`${life.label} starts`);
  process.body(life).then(
    () => {
      if (!life.alive) return;
      process.finished = true;
      world.log(`${life.label} finished`);
    },
    (error: unknown) => {
      if (!life.alive) return;
      process.finished = true;
      world.model.violate({
        kind: "process-error",
        step: world.step,
        message: `${life.label} threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      });
    },
  );
}

/** Restarts crashed processes and resumes paused ones whose time has come. */
function wake(world: World): void {
  const now = world.sched.now;
  for (const process of world.processes) {
    if (process.paused && process.resumeAt <= now) {
      process.paused = false;
      world.log(`${process.life.label} resumes`);
    }
    if (!process.life.alive && process.restartAt !== undefined && process.restartAt <= now)
      start(world, process);
  }
}

/** The next time something can happen: a timer, a restart, a resume. */
function nextEvent(world: World): number | undefined {
  let next = world.sched.nextDue();
  for (const process of world.processes) {
    for (const at of [process.paused ? process.resumeAt : undefined, process.restartAt]) {
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
  }
  return next;
}

/** Runs one gate to completion (or holds it, for a hang), then lets processes settle. */
async function runGate(
  world: World,
  gate: ReturnType<World["sched"]["runnable"]>[number],
  fault: ReturnType<World["opFault"]>,
): Promise<void> {
  if (fault === "hang") {
    gate.hung = true;
    world.stats.ledgerFaults++;
    world.log(`${gate.life.label} ${gate.target}.${gate.method} ! hangs`);
    return;
  }
  if (fault === "fail" || fault === "ambiguous") world.stats.ledgerFaults++;
  if (fault === "drop" || fault === "duplicate" || fault === "corrupt") world.stats.writeFaults++;
  world.sched.take(gate);
  world.stats.operations++;
  try {
    gate.resolve(await gate.run(fault));
  } catch (error) {
    gate.reject(error);
  }
  await settle();
}

/** Draws this step's process, sink and ledger faults. */
async function drawStepFaults(world: World): Promise<void> {
  const f = world.config.faults;
  const r = world.faultRandom;
  const ttl = world.config.claimTtlMs;
  const live = () => world.processes.filter((p) => p.life.alive && !p.finished);
  const choose = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[Math.floor(r() * items.length)];
  const faults: SimFault[] = [];
  const step = world.step;
  if (r() < f.crash) {
    const p = choose(live());
    if (p !== undefined)
      faults.push({
        step,
        kind: "crash",
        process: p.name,
        restartMs: 50 + Math.floor(r() * 2 * ttl),
      });
  }
  if (r() < f.pause) {
    const p = choose(live().filter((q) => !q.paused));
    if (p !== undefined)
      faults.push({ step, kind: "pause", process: p.name, ms: ttl + Math.floor(r() * 2 * ttl) });
  }
  if (r() < f.outage) {
    const s = choose([...world.sinks.keys()]);
    if (s !== undefined)
      faults.push({ step, kind: "outage", sink: s, ms: 100 + Math.floor(r() * 2000) });
  }
  if (r() < f.clockJump) {
    const p = choose(live());
    if (p !== undefined)
      faults.push({
        step,
        kind: "clock-jump",
        process: p.name,
        ms: Math.round((r() * 2 - 1) * 5000),
      });
  }
  if (r() < f.ledgerRestart) faults.push({ step, kind: "ledger-restart" });
  for (const fault of faults) {
    world.injected.push(Object.freeze(fault));
    await applyFault(world, fault);
  }
}

/** Applies one process, sink or ledger fault (operation faults apply when their operation runs). */
async function applyFault(world: World, fault: SimFault): Promise<void> {
  const sched = world.sched;
  const process =
    "process" in fault ? world.processes.find((p) => p.name === fault.process) : undefined;
  switch (fault.kind) {
    case "crash":
      if (process === undefined || !process.life.alive || process.finished) return;
      world.log(`${process.life.label} crashes`);
      sched.kill(process.life);
      process.paused = false;
      process.restartAt = sched.now + fault.restartMs;
      world.stats.crashes++;
      return;
    case "pause":
      if (process === undefined || !process.life.alive || process.paused) return;
      world.log(`${process.life.label} pauses for ${fault.ms} ms`);
      process.paused = true;
      process.resumeAt = sched.now + fault.ms;
      world.stats.pauses++;
      return;
    case "clock-jump":
      if (process === undefined) return;
      process.skewMs += fault.ms;
      world.log(`${process.name} clock jumps ${fault.ms} ms`);
      world.stats.clockJumps++;
      return;
    case "outage": {
      const state = world.sinks.get(fault.sink);
      if (state === undefined) return;
      state.outageUntil = Math.max(state.outageUntil, sched.now + fault.ms);
      world.log(`${fault.sink} goes offline for ${fault.ms} ms`);
      world.stats.outages++;
      return;
    }
    case "ledger-restart": {
      world.log("ledger restarts");
      await world.restartLedger();
      const entries = await world.entries();
      for (const key of world.model.acked.keys()) {
        if (entries.has(key)) continue;
        world.model.violate({
          kind: "lost",
          step: world.step,
          key,
          message: `${key} was acknowledged, and the ledger no longer has it after a restart`,
        });
      }
      return;
    }
    default:
      return;
  }
}

/** The checks after every step: what each sink holds, and each new reconciliation. */
async function checkStep(world: World): Promise<void> {
  for (const state of world.sinks.values())
    world.model.checkHeld(state.name, await world.held(state), world.step);
  if (world.reports.length === 0) return;
  const entries = await world.entries();
  for (const { report, snapshots, step } of world.reports.splice(0))
    world.model.checkReport(report, snapshots, entries, world.config.lagToleranceMs, step);
}

/** The checks at the end: every sink holds exactly the ledger, once; the audit is whole. */
async function finalChecks(
  world: World,
  final: ReconcileReport | undefined,
  finished: boolean,
): Promise<void> {
  const model = world.model;
  const step = world.step;
  const ledger = world.ledger;
  const entries = await world.entries();
  for (const key of model.acked.keys()) {
    if (!entries.has(key))
      model.violate({
        kind: "lost",
        step,
        key,
        message: `${key} was acknowledged and is not in the ledger`,
      });
  }
  for (const key of model.attempted)
    if (!model.acked.has(key) && entries.has(key)) model.recovered++;
  const head = await ledger.head();
  for (const state of world.sinks.values()) {
    const sink = state.name;
    const held = await world.held(state);
    for (const entry of entries.values()) {
      const key = entry.envelope.key;
      const slot = held.get(key);
      if (slot === undefined)
        model.violate({
          kind: "lost",
          step,
          sink,
          key,
          message: `${sink} does not hold ${key} at the end`,
        });
      else if (slot.copies > 1)
        model.violate({
          kind: "duplicated",
          step,
          sink,
          key,
          message: `${sink} holds ${key} ${slot.copies} times at the end`,
        });
      else if (slot.checksums.some((c) => c !== entry.envelope.checksum))
        model.violate({
          kind: "unexpected",
          step,
          sink,
          key,
          message: `${sink} holds ${key} with other content than the ledger's at the end`,
        });
    }
    for (const key of held.keys()) {
      if (!entries.has(key))
        model.violate({
          kind: "unexpected",
          step,
          sink,
          key,
          message: `${sink} holds ${key}, which the ledger never had`,
        });
    }
    const written = new Map<string, number>();
    for await (const receipt of ledger.scanReceipts(sink)) {
      if (receipt.status !== "written") continue;
      const n = (written.get(receipt.key) ?? 0) + 1;
      written.set(receipt.key, n);
      if (n === 2)
        model.violate({
          kind: "receipts",
          step,
          sink,
          key: receipt.key,
          message: `${sink} has more than one final written receipt for ${receipt.key}`,
        });
    }
    const watermark = await ledger.getWatermark(sink);
    model.watermark(sink, watermark, step);
    if (watermark !== head)
      model.violate({
        kind: "watermark",
        step,
        sink,
        message: `the watermark of ${sink} is ${watermark} at the end, the head ${head}`,
      });
  }
  if (!finished || final === undefined) {
    model.violate({
      kind: "not-converged",
      step,
      message: "the end phase's drain, reconcile and repair did not finish",
    });
  } else {
    for (const s of final.sinks) {
      if (!s.consistent)
        model.violate({
          kind: "not-converged",
          step,
          sink: s.name,
          message: `${s.name} is not consistent after ${FINAL_ROUNDS} rounds of drain, reconcile and repair: ${JSON.stringify(s.counts)}`,
        });
    }
  }
  const audit = await ledger.verifyAudit();
  if (!audit.ok)
    model.violate({
      kind: "audit",
      step,
      message: `the audit chain is broken: ${JSON.stringify(audit)}`,
    });
  else if (audit.interrupted.length > 0)
    model.violate({
      kind: "audit",
      step,
      message: `${audit.interrupted.length} repair actions have an intent and no outcome at the end`,
    });
}
