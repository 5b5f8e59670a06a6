/**
 * What the simulated processes do, each a loop over the real library: producers publish
 * their events through a real pipeline (a crashed producer starts again from its first
 * event not acknowledged, as a consumer restarts from its committed offset), deliverers
 * drain every sink, reconcilers reconcile, repair what they find and compact receipts. The last process,
 * `final`, runs in the end phase with every fault healed: it drains, reconciles and
 * repairs until the sinks converge.
 *
 * @module
 */

import { createPipeline, type Pipeline } from "../../delivery/pipeline.js";
import { createProducer, type EmitOptions, type Producer } from "../../delivery/producer.js";
import { createIdFactory } from "../../envelope/ids.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { isSinkproofError, isTransientLedgerError, type SinkproofError } from "../../errors.js";
import { reconcile } from "../../reconcile/reconcile.js";
import { repair } from "../../reconcile/repair.js";
import type { ReconcileReport } from "../../reconcile/types.js";
import type { Incarnation } from "./scheduler.js";
import type { Snapshots, World } from "./world.js";

/**
 * What a process may meet and carry on after: the ledger unavailable (an injected fault),
 * or closed under a call that was running when it restarted. Anything else thrown by
 * publish, reconcile or repair ends the process, and the checker reports it.
 */
function isLedgerOutage(error: unknown): error is SinkproofError {
  return (
    isTransientLedgerError(error) || (isSinkproofError(error) && error.code === "ledger_closed")
  );
}

/** The event type and schema of simulated events. */
const EVENT_TYPE = "sim.event";
const SCHEMA = Object.freeze({ name: "sim", version: 1 });

/** One producer's events: keys and payloads, the same every run of the seed. */
export interface Workload {
  readonly keys: readonly string[];
  readonly payloads: readonly JsonValue[];
  /** Events acknowledged so far, in order: where a restarted producer resumes. */
  next: number;
}

/** Makes the workload of `producer`. */
export function workload(world: World, producer: string): Workload {
  const keys: string[] = [];
  const payloads: JsonValue[] = [];
  for (let n = 0; n < world.config.events; n++) {
    keys.push(`${producer}/e${n}`);
    const random = world.work;
    payloads.push(
      world.config.payload === undefined
        ? { producer, n, amount: Math.floor(random() * 10_000) }
        : world.config.payload(producer, n, random),
    );
  }
  return { keys, payloads, next: 0 };
}

function producerOf(world: World, life: Incarnation, kit: ReturnType<World["kit"]>): Producer {
  return createProducer({
    id: life.process.name,
    ledger: kit.ledger,
    clock: kit.clock,
    ids: createIdFactory({ clock: kit.clock, random: world.work }),
    sequenceBlock: 10,
  });
}

/** A producer: publishes its events, one after another, retrying each until acknowledged. */
export async function producerBody(world: World, life: Incarnation, work: Workload): Promise<void> {
  const kit = world.kit(life);
  const inner = producerOf(world, life, kit);
  // The pipeline's producer, recording each acknowledgement the moment emit returns.
  const recording: Producer = {
    id: inner.id,
    ledger: inner.ledger,
    async emit(type: string, payload: unknown, options: EmitOptions): Promise<Envelope> {
      const envelope = await inner.emit(type, payload, options);
      world.model.acked.set(envelope.key, envelope.checksum);
      return envelope;
    },
    emitMany: (items) => inner.emitMany(items),
  };
  const pipeline = createPipeline({ producer: recording, sinks: kit.guards });
  while (work.next < work.keys.length) {
    const key = work.keys[work.next] as string;
    world.model.attempted.add(key);
    try {
      await pipeline.publish(EVENT_TYPE, work.payloads[work.next], { schema: SCHEMA, key });
      work.next++;
    } catch (error) {
      // The ledger failed: the event is published again, with the same key and payload.
      // Anything else (a payload the producer refuses, a bug) ends the process: a violation.
      if (!isLedgerOutage(error)) throw error;
    }
    await world.sched.sleep(life, 5 + Math.floor(world.work() * 50));
  }
}

/** A deliverer: drains every sink, sleeps, again, until the end phase. */
export async function delivererBody(world: World, life: Incarnation): Promise<void> {
  const kit = world.kit(life);
  const pipeline: Pipeline = createPipeline({
    producer: producerOf(world, life, kit),
    sinks: kit.guards,
  });
  for (;;) {
    await pipeline.drain();
    await world.sched.sleep(life, 20 + Math.floor(world.work() * 200));
  }
}

/**
 * A reconciler: reconciles every sink, checks the report, repairs what it found, then
 * compacts each sink's receipts under its watermark (as a retention job would, racing the
 * deliverers and the other reconcilers), again.
 */
export async function reconcilerBody(world: World, life: Incarnation): Promise<void> {
  const kit = world.kit(life);
  for (;;) {
    await world.sched.sleep(life, 200 + Math.floor(world.work() * 600));
    await reconcileAndRepair(world, life, kit, false);
    for (const guard of kit.guards) {
      try {
        const done = await kit.ledger.compactReceipts(guard.name, {
          actor: life.label,
          reason: "simulated retention",
        });
        world.stats.compactions++;
        world.log(`${life.label} compact ${guard.name} -> ${done.removed} through ${done.through}`);
      } catch (error) {
        if (!isLedgerOutage(error)) throw error;
        world.log(`${life.label} compact ${guard.name} ! ${error.code}`);
      }
    }
  }
}

/**
 * One reconcile, checked against the model, then a repair of what it found. Returns the
 * report, or undefined when the ledger failed it.
 */
async function reconcileAndRepair(
  world: World,
  life: Incarnation,
  kit: ReturnType<World["kit"]>,
  includeLate: boolean,
): Promise<ReconcileReport | undefined> {
  const snapshots: Snapshots = new Map();
  const sinks = kit.reconcileSinks(snapshots);
  let report: ReconcileReport;
  // Every other pass is incremental (from each sink's checkpoint), on ledgers that keep
  // checkpoints: the checker judges each sink over the positions its pass checked.
  const incremental = world.checkpoints && world.stats.reconciles % 2 === 1;
  try {
    report = await reconcile({
      ledger: kit.ledger,
      sinks,
      clock: kit.clock,
      actor: life.label,
      ...(incremental ? { incremental: true } : {}),
    });
  } catch (error) {
    if (incremental && isSinkproofError(error) && error.code === "unsupported") {
      world.checkpoints = false;
      world.log(`${life.label} reconcile: the ledger keeps no checkpoints, full passes only`);
      return undefined;
    }
    if (!isLedgerOutage(error)) throw error;
    world.log(`${life.label} reconcile ! ${error.code}`);
    return undefined;
  }
  world.stats.reconciles++;
  world.log(
    `${life.label} reconcile${incremental ? " incremental" : ""} -> ${report.sinks
      .map(
        (s) =>
          `${s.name}:${s.consistent ? "ok" : JSON.stringify(s.counts)}${s.interrupted.length > 0 ? ` interrupted ${s.interrupted.length}` : ""}`,
      )
      .join(" ")}`,
  );
  world.reports.push({ report, snapshots, step: world.step });
  const interrupted = report.sinks.some((s) => s.interrupted.length > 0);
  if (report.consistent && !interrupted) return report;
  try {
    const result = await repair(report, {
      ledger: kit.ledger,
      sinks,
      clock: kit.clock,
      actor: life.label,
      reason: "simulated repair",
      includeLate,
    });
    world.stats.repairs++;
    world.log(
      `${life.label} repair -> ${result.actions.length} actions, converged ${result.converged}`,
    );
  } catch (error) {
    if (!isLedgerOutage(error)) throw error;
    world.log(`${life.label} repair ! ${error.code}`);
  }
  return report;
}

/**
 * The end phase's process: with every fault healed, drains, reconciles and repairs, up to
 * `rounds` times, until a reconciliation finds every sink consistent with nothing
 * interrupted. Returns the last report.
 */
export async function finalBody(
  world: World,
  life: Incarnation,
  rounds: number,
  done: (report: ReconcileReport | undefined) => void,
): Promise<void> {
  const kit = world.kit(life);
  const pipeline = createPipeline({ producer: producerOf(world, life, kit), sinks: kit.guards });
  let last: ReconcileReport | undefined;
  for (let round = 0; round < rounds; round++) {
    await pipeline.drain();
    const report = await reconcileAndRepair(world, life, kit, true);
    if (report !== undefined) last = report;
    if (report?.consistent === true && !report.sinks.some((s) => s.interrupted.length > 0)) break;
    await world.sched.sleep(life, world.config.claimTtlMs + 1);
  }
  // One more drain: a repair's replays may have left the watermark short of the head.
  await pipeline.drain();
  done(last);
}
