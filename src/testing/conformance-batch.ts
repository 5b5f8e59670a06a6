/**
 * Conformance cases for the batch operations (`getMany`, `claimMany`, `releaseClaims`,
 * `putReceipts`): each answers exactly as the single operation would, item by item and in
 * order; checks every item before it stores any; and, under concurrency, never grants one
 * key to two holders. Part of the public suite (`ledgerConformance`); every adapter runs
 * them, whether it overrides `BaseLedger`'s defaults or not.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import type { Claim, ClaimResult, LedgerEntry } from "../ledger/types.js";
import {
  type ConformanceGroup,
  codeIs,
  defineGroup,
  fill,
  receiptFor,
  rejectsWith,
} from "./conformance-support.js";

const isArgumentAt =
  (path: string) =>
  (error: unknown): boolean =>
    error instanceof InvalidArgumentError && error.path === path;

function claimOf(result: ClaimResult | undefined, what: string): Claim {
  assert.equal(result?.status, "acquired", `${what}: expected the claim to be acquired`);
  if (result?.status !== "acquired") throw new Error("unreachable");
  return result.claim;
}

/**
 * Conformance cases for the batch operations: answers in order, one per item, as the single
 * operations give them; a fenced receipt reported while the rest are stored; a bad receipt
 * or a missing entry storing none; repeated keys refused at their index; concurrent
 * `claimMany` calls over the same keys granting each key once. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerBatchCases: ConformanceGroup = defineGroup((test) => {
  test("getMany answers each key in order, undefined for a key not in the ledger", async (ledger, t) => {
    const entries = await fill(ledger, t, 3);
    const keys = entries.map((e) => e.envelope.key);
    const found = await ledger.getMany([keys[2] as string, "missing", keys[0] as string]);
    assert.equal(found.length, 3);
    assert.equal(found[0]?.position, 3);
    assert.equal(found[1], undefined);
    assert.equal(found[2]?.position, 1);
    assert.deepEqual(found[0], await ledger.get(keys[2] as string));
    assert.deepEqual(await ledger.getMany([]), []);
    await rejectsWith(
      ledger.getMany([keys[0] as string, keys[0] as string]),
      isArgumentAt("keys[1]"),
      "a repeated key",
    );
    await rejectsWith(ledger.getMany(["ok", ""]), isArgumentAt("keys[1]"), "an empty key");
    await rejectsWith(ledger.getMany("k" as never), isArgumentAt("keys"), "not an array");
  });

  test("getReceiptsMany answers each key's receipts in order, as getReceipts does", async (ledger, t) => {
    const entries = await fill(ledger, t, 3);
    const [e1, e2, e3] = entries as [LedgerEntry, LedgerEntry, LedgerEntry];
    await ledger.putReceipt(
      receiptFor(e1, { status: "failed", error: { code: "E", message: "m" } }),
    );
    await ledger.putReceipt(receiptFor(e1, { attempt: 2 }));
    await ledger.putReceipt(receiptFor(e3));
    await ledger.putReceipt(receiptFor(e3, { sink: "search" }));
    const keys = [e3.envelope.key, "missing", e2.envelope.key, e1.envelope.key];
    const found = await ledger.getReceiptsMany("warehouse", keys);
    assert.equal(found.length, 4);
    for (let i = 0; i < keys.length; i++) {
      assert.deepEqual(
        found[i],
        await ledger.getReceipts("warehouse", keys[i] as string),
        `the receipts of ${keys[i]}`,
      );
    }
    assert.deepEqual(
      found[3]?.map((r) => r.attempt),
      [1, 2],
      "a key's receipts in the order they were put",
    );
    assert.deepEqual(found[1], [], "none for a key not in the ledger");
    assert.deepEqual(
      found[0]?.map((r) => r.sink),
      ["warehouse"],
      "only the sink asked for",
    );
    assert.ok(Object.isFrozen(found) && Object.isFrozen(found[0]), "answers are frozen");
    assert.deepEqual(await ledger.getReceiptsMany("warehouse", []), []);
    await rejectsWith(
      ledger.getReceiptsMany("warehouse", [e1.envelope.key, e1.envelope.key]),
      isArgumentAt("keys[1]"),
      "a repeated key",
    );
    await rejectsWith(
      ledger.getReceiptsMany("", [e1.envelope.key]),
      isArgumentAt("sink"),
      "no sink",
    );
    await rejectsWith(
      ledger.getReceiptsMany("warehouse", "k" as never),
      isArgumentAt("keys"),
      "not an array",
    );
  });

  test("claimMany decides each key as claim does: acquired, held or done, in order", async (ledger, t) => {
    const entries = await fill(ledger, t, 4);
    const [k1, k2, k3, k4] = entries.map((e) => e.envelope.key) as [string, string, string, string];
    // k2 is held by another owner; k3 is done at the sink; k1 and k4 are free.
    const other = await ledger.claim("warehouse", k2, { owner: "other", ttlMs: 1000 });
    assert.equal(other.status, "acquired");
    await ledger.putReceipt(receiptFor(entries[2] as (typeof entries)[number]));
    const results = await ledger.claimMany("warehouse", [k1, k2, k3, k4], {
      owner: "batch",
      ttlMs: 1000,
    });
    assert.deepEqual(
      results.map((r) => r.status),
      ["acquired", "held", "done", "acquired"],
    );
    const c1 = claimOf(results[0], "k1");
    const c4 = claimOf(results[3], "k4");
    assert.equal(c1.owner, "batch");
    assert.equal(c1.key, k1);
    assert.equal(c4.key, k4);
    assert.notEqual(c1.token, c4.token, "each key gets its own claim token");
    const held = results[1];
    if (held?.status === "held") assert.equal(held.owner, "other");
    const done = results[2];
    if (done?.status === "done") assert.equal(done.receipt.key, k3);
    // Each claim is live and exclusive, as a single claim is.
    assert.equal((await ledger.claim("warehouse", k1, { owner: "x", ttlMs: 1000 })).status, "held");
    // A replay batch never answers done; a takeover batch takes over exactly that owner.
    assert.equal(await ledger.releaseClaim(c1), true);
    const replay = await ledger.claimMany("warehouse", [k3, k1], {
      owner: "repair",
      ttlMs: 1000,
      replay: true,
    });
    assert.deepEqual(
      replay.map((r) => r.status),
      ["acquired", "acquired"],
    );
    const taken = await ledger.claimMany("warehouse", [k2], {
      owner: "rescuer",
      ttlMs: 1000,
      takeOverFrom: "other",
    });
    const rescued = claimOf(taken[0], "takeover");
    if (other.status === "acquired")
      assert.ok(rescued.fencingToken > other.claim.fencingToken, "a takeover raises the token");
    // After expiry, every key can be taken over again, each with a higher fencing token.
    await t.expire(1000);
    const again = await ledger.claimMany("warehouse", [k1, k4], { owner: "late", ttlMs: 1000 });
    assert.ok(claimOf(again[1], "k4 again").fencingToken > c4.fencingToken);
    assert.deepEqual(await ledger.claimMany("warehouse", [], { owner: "a", ttlMs: 1 }), []);
    await rejectsWith(
      ledger.claimMany("warehouse", [k1, k1], { owner: "a", ttlMs: 1000 }),
      isArgumentAt("keys[1]"),
      "a repeated key",
    );
    await rejectsWith(
      ledger.claimMany("warehouse", [k1], { owner: "a", ttlMs: 1000, tll: 1 } as never),
      codeIs("invalid_argument"),
      "an unknown option",
    );
  });

  test("claimMany answering done leaves the key's claim as it was", async (ledger, t) => {
    const [entry] = await fill(ledger, t, 1);
    assert.ok(entry !== undefined);
    const key = entry.envelope.key;
    const mine = claimOf(await ledger.claim("warehouse", key, { owner: "x", ttlMs: 1000 }), "x");
    await ledger.putReceipt(receiptFor(entry, { fencingToken: mine.fencingToken }));
    // Even asked to take over from its holder, a done key is answered done and the live
    // claim stays its holder's, as `claim` leaves it.
    const answer = await ledger.claimMany("warehouse", [key], {
      owner: "y",
      ttlMs: 1000,
      takeOverFrom: "x",
    });
    assert.equal(answer[0]?.status, "done");
    const renewed = await ledger.renewClaim(mine, 1000);
    assert.equal(renewed.fencingToken, mine.fencingToken);
    assert.equal(await ledger.releaseClaim(renewed), true);
  });

  test("releaseClaims answers each claim in order; released keys can be claimed again", async (ledger, t) => {
    const entries = await fill(ledger, t, 2);
    const keys = entries.map((e) => e.envelope.key);
    const claimed = await ledger.claimMany("warehouse", keys, { owner: "a", ttlMs: 1000 });
    const claims = claimed.map((r, i) => claimOf(r, `key ${i}`));
    assert.equal(await ledger.releaseClaim(claims[1] as Claim), true);
    assert.deepEqual(await ledger.releaseClaims(claims), [true, false]);
    assert.deepEqual(await ledger.releaseClaims(claims), [false, false]);
    const next = await ledger.claimMany("warehouse", keys, { owner: "b", ttlMs: 1000 });
    next.forEach((r, i) => {
      assert.ok(claimOf(r, `again ${i}`).fencingToken > (claims[i] as Claim).fencingToken);
    });
    assert.deepEqual(await ledger.releaseClaims([]), []);
    await rejectsWith(
      ledger.releaseClaims([
        next[0] && claimOf(next[0], "a"),
        next[0] && claimOf(next[0], "a"),
      ] as Claim[]),
      isArgumentAt("claims[1]"),
      "a repeated claim",
    );
    await rejectsWith(
      ledger.releaseClaims([claims[0] as Claim, { ...(claims[0] as Claim), token: 5 } as never]),
      (error) =>
        error instanceof InvalidArgumentError && error.path?.startsWith("claims[1]") === true,
      "a bad claim",
    );
  });

  test("putReceipts stores in order and reports a fenced receipt while storing the rest", async (ledger, t) => {
    const entries = await fill(ledger, t, 2);
    const [a, b] = entries as [(typeof entries)[number], (typeof entries)[number]];
    const old = claimOf(
      await ledger.claim("warehouse", a.envelope.key, { owner: "old", ttlMs: 1000 }),
      "old",
    );
    await t.expire(1000);
    const current = claimOf(
      await ledger.claim("warehouse", a.envelope.key, { owner: "new", ttlMs: 1000 }),
      "new",
    );
    const statuses = await ledger.putReceipts([
      receiptFor(a, { status: "failed", attempt: 1, error: { code: "x", message: "first" } }),
      receiptFor(a, { fencingToken: old.fencingToken, attempt: 2 }),
      receiptFor(b),
      receiptFor(a, { fencingToken: current.fencingToken, attempt: 3 }),
    ]);
    assert.deepEqual(statuses, ["stored", "fenced", "stored", "stored"]);
    const ofA = await ledger.getReceipts("warehouse", a.envelope.key);
    assert.deepEqual(
      ofA.map((r) => [r.status, r.attempt]),
      [
        ["failed", 1],
        ["written", 3],
      ],
      "stored in the order given, the fenced one left out",
    );
    assert.equal((await ledger.getReceipts("warehouse", b.envelope.key)).length, 1);
    assert.deepEqual(await ledger.putReceipts([]), []);
  });

  test("putReceipts stores none when one receipt is bad or has no entry", async (ledger, t) => {
    const [a] = await fill(ledger, t, 1);
    assert.ok(a !== undefined);
    await rejectsWith(
      ledger.putReceipts([receiptFor(a), { ...receiptFor(a), status: "lost" } as never]),
      (error) =>
        error instanceof InvalidArgumentError && error.path?.startsWith("receipts[1]") === true,
      "a bad receipt",
    );
    await rejectsWith(
      ledger.putReceipts([receiptFor(a), receiptFor(a, { position: 7 })]),
      codeIs("not_found"),
      "a receipt whose entry is not at its position",
    );
    await rejectsWith(
      ledger.putReceipts([receiptFor(a), receiptFor(a, { key: "nowhere" })]),
      codeIs("not_found"),
      "a receipt with no entry",
    );
    assert.deepEqual(
      await ledger.getReceipts("warehouse", a.envelope.key),
      [],
      "nothing of a refused batch is stored",
    );
  });

  test("concurrent claimMany calls over the same keys grant each key to one caller", async (ledger, t) => {
    const entries = await fill(ledger, t, 20);
    const keys = entries.map((e) => e.envelope.key);
    const callers = ["a", "b", "c", "d"];
    const answers = await Promise.all(
      callers.map((owner, i) =>
        // Each caller asks in another order: no two batches may deadlock or share a key.
        ledger.claimMany("warehouse", i % 2 === 0 ? keys : [...keys].reverse(), {
          owner,
          ttlMs: 60_000,
        }),
      ),
    );
    const holders = new Map<string, string[]>();
    answers.forEach((results, i) => {
      for (const result of results) {
        if (result.status !== "acquired") continue;
        const list = holders.get(result.claim.key) ?? [];
        list.push(callers[i] as string);
        holders.set(result.claim.key, list);
      }
    });
    for (const key of keys) {
      assert.equal(
        holders.get(key)?.length,
        1,
        `${key} granted to ${holders.get(key)?.join(", ")}`,
      );
    }
  });
});
