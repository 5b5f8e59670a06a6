/**
 * Deterministic simulation of a two-sink pipeline: a warehouse table that fences writes
 * by token, and a search index with a planted bug (it appends a document on every write
 * instead of upserting by key). The simulator runs producers, deliverers and a reconciler
 * over one ledger through crashes, pauses, outages and duplicated writes, finds the bug,
 * shrinks its fault schedule and replays it; with the bug fixed, the same seed passes.
 *
 * Run: npx tsx examples/simulate.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import type { Observation } from "sinkproof";
import { type SimSink, type SimulateOptions, simulate } from "sinkproof/testing";

/** A table: one row per key, with the fencing token of the write that stored it. */
function warehouse(): SimSink {
  const rows = new Map<string, { checksum: string; token: number }>();
  return {
    fenced: true,
    write: (envelope, ctx) => {
      const row = rows.get(envelope.key);
      if (row !== undefined && row.token >= ctx.fencingToken) return; // a late write: 0 rows
      rows.set(envelope.key, { checksum: envelope.checksum, token: ctx.fencingToken });
    },
    observe: () => [...rows].map(([key, row]) => ({ key, checksum: row.checksum })),
    rewrite: (envelope) => {
      rows.set(envelope.key, { checksum: envelope.checksum, token: 0 });
    },
    remove: (key) => {
      rows.delete(key);
    },
  };
}

/** A search index; `buggy` appends a document per write, the fix replaces it. */
function search(buggy: boolean): SimSink {
  const docs = new Map<string, Observation[]>();
  return {
    write: (envelope) => {
      const doc = { key: envelope.key, checksum: envelope.checksum };
      docs.set(envelope.key, buggy ? [...(docs.get(envelope.key) ?? []), doc] : [doc]);
    },
    observe: () => [...docs.values()].flat(),
    rewrite: (envelope) => {
      docs.set(envelope.key, [{ key: envelope.key, checksum: envelope.checksum }]);
    },
    remove: (key) => {
      docs.delete(key);
    },
  };
}

const pipeline = (buggy: boolean): Omit<SimulateOptions, "seed"> => ({
  steps: 300,
  sinks: { warehouse, search: () => search(buggy) },
});

// Look for a failing seed.
let failing: Awaited<ReturnType<typeof simulate>> | undefined;
for (let seed = 0; seed < 50 && failing === undefined; seed++) {
  const result = await simulate({ ...pipeline(true), seed });
  if (!result.ok) failing = result;
}
assert.ok(failing !== undefined, "the planted bug is found within 50 seeds");
const first = failing.violations[0];
assert.ok(first !== undefined);
console.log(`seed ${failing.seed} fails: ${first.kind} at step ${first.step}: ${first.message}`);
console.log(`counts: ${JSON.stringify(failing.counts)}`);
assert.equal(first.kind, "duplicated");
assert.equal(first.sink, "search");

// The smallest fault schedule that still fails, and its replay.
const shrunk = failing.shrunk;
assert.ok(shrunk !== undefined);
console.log(
  `shrunk from ${failing.schedule.length} faults to ${shrunk.schedule.length} in ${shrunk.runs} runs:`,
  JSON.stringify(shrunk.schedule),
);
const replay = await simulate({ ...pipeline(true), seed: failing.seed, schedule: shrunk.schedule });
assert.equal(replay.digest, shrunk.digest, "the shrunk schedule replays byte for byte");
assert.ok(replay.violations.some((v) => v.kind === "duplicated"));

// The seed alone replays the original run exactly.
const again = await simulate({ ...pipeline(true), seed: failing.seed, shrink: false });
assert.equal(again.digest, failing.digest);

// Fixed (an upsert by key), the same seed and schedule pass.
const fixed = await simulate({ ...pipeline(false), seed: failing.seed });
assert.ok(fixed.ok, JSON.stringify(fixed.violations));
console.log(
  `fixed: seed ${failing.seed} passes (${fixed.stats.steps} steps, ${fixed.schedule.length} faults)`,
);
