/**
 * Conformance cases for fencing tokens and durable freezes: what lets a paused writer's
 * late write be refused, and a freeze reach every guard of a sink. Part of the public
 * suite (`ledgerConformance`); every adapter runs them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError, LedgerError } from "../errors.js";
import type { Claim, Ledger, LedgerEntry } from "../ledger/types.js";
import {
  codeIs,
  collect,
  type Define,
  fill,
  receiptFor,
  rejectsWith,
  type Tools,
} from "./conformance-support.js";

function acquired(result: Awaited<ReturnType<Ledger["claim"]>>, what: string): Claim {
  assert.equal(result.status, "acquired", `${what}: expected the claim to be acquired`);
  if (result.status !== "acquired") throw new Error("unreachable");
  assert.ok(
    Number.isSafeInteger(result.claim.fencingToken) && result.claim.fencingToken >= 1,
    `${what}: a fencing token is a positive integer, got ${String(result.claim.fencingToken)}`,
  );
  return result.claim;
}

/** Fencing tokens, takeovers from a known owner, and the receipt fence. */
export function defineClaimCases<L extends Ledger>(test: Define<L>, durable: boolean): void {
  const T = (t: Tools<L>) => t as unknown as Tools<Ledger>;

  test("every acquisition of a key gets a fencing token above the last: takeover, release, replay", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    const key = (entry as LedgerEntry).envelope.key;
    const first = acquired(
      await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 }),
      "first",
    );
    await t.expire(1000);
    const second = acquired(
      await ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000 }),
      "takeover",
    );
    assert.ok(second.fencingToken > first.fencingToken, "a takeover gets a higher token");
    assert.ok(await ledger.releaseClaim(second));
    const third = acquired(
      await ledger.claim("warehouse", key, { owner: "c", ttlMs: 1000 }),
      "after release",
    );
    assert.ok(
      third.fencingToken > second.fencingToken,
      "a claim after a release gets a higher token",
    );
    await ledger.putReceipt(receiptFor(entry as LedgerEntry, { fencingToken: third.fencingToken }));
    assert.ok(await ledger.releaseClaim(third));
    const replay = acquired(
      await ledger.claim("warehouse", key, { owner: "d", ttlMs: 1000, replay: true }),
      "replay",
    );
    assert.ok(replay.fencingToken > third.fencingToken, "a replay gets a higher token");
  });

  test("a released claim can be neither renewed nor released again", async (ledger) => {
    const claim = acquired(
      await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 1000 }),
      "claim",
    );
    assert.equal(await ledger.releaseClaim(claim), true);
    assert.equal(await ledger.releaseClaim(claim), false);
    await rejectsWith(ledger.renewClaim(claim, 1000), codeIs("claim_lost"), "renew after release");
    acquired(await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 }), "next holder");
  });

  test("a final receipt under an older fencing token is refused with fenced; the newer holder's is kept", async (ledger, t) => {
    const [entry] = await fill(ledger, T(t), 1);
    const e = entry as LedgerEntry;
    const old = acquired(
      await ledger.claim("warehouse", e.envelope.key, { owner: "a", ttlMs: 1000 }),
      "a",
    );
    await t.expire(1000);
    const current = acquired(
      await ledger.claim("warehouse", e.envelope.key, { owner: "b", ttlMs: 1000 }),
      "b",
    );
    const thrown = await rejectsWith(
      ledger.putReceipt(receiptFor(e, { fencingToken: old.fencingToken })),
      codeIs("fenced"),
      "written under a lost claim",
    );
    assert.ok(thrown instanceof LedgerError);
    assert.deepEqual(await ledger.getReceipts("warehouse", e.envelope.key), [], "nothing stored");
    // What is not final is kept: it records an attempt, and counts for nothing.
    const failed = receiptFor(e, {
      status: "failed",
      fencingToken: old.fencingToken,
      error: { code: "timeout", message: "slow" },
    });
    const superseded = receiptFor(e, {
      status: "superseded",
      fencingToken: old.fencingToken,
      error: { code: "superseded", message: "claim lost" },
    });
    await ledger.putReceipt(failed);
    await ledger.putReceipt(superseded);
    const mine = receiptFor(e, { fencingToken: current.fencingToken, attempt: 2 });
    await ledger.putReceipt(mine);
    assert.ok(await ledger.releaseClaim(current));
    await rejectsWith(
      ledger.putReceipt(receiptFor(e, { fencingToken: old.fencingToken, attempt: 3 })),
      codeIs("fenced"),
      "still refused once the newer holder released",
    );
    assert.deepEqual(await ledger.getReceipts("warehouse", e.envelope.key), [
      failed,
      superseded,
      mine,
    ]);
    const done = await ledger.claim("warehouse", e.envelope.key, { owner: "c", ttlMs: 1000 });
    assert.equal(done.status, "done");
    if (done.status === "done") assert.deepEqual(done.receipt, mine);
  });

  test("takeOverFrom takes a live claim over from exactly that owner, and no other", async (ledger) => {
    const held = acquired(
      await ledger.claim("warehouse", "k1", { owner: "dead-worker", ttlMs: 60_000 }),
      "a",
    );
    const wrong = await ledger.claim("warehouse", "k1", {
      owner: "b",
      ttlMs: 60_000,
      takeOverFrom: "someone-else",
    });
    assert.equal(wrong.status, "held", "another owner's live claim is not taken");
    const taken = acquired(
      await ledger.claim("warehouse", "k1", {
        owner: "b",
        ttlMs: 60_000,
        takeOverFrom: "dead-worker",
      }),
      "takeover from the named owner",
    );
    assert.ok(taken.fencingToken > held.fencingToken);
    await rejectsWith(
      ledger.renewClaim(held, 1000),
      codeIs("claim_lost"),
      "the old holder lost it",
    );
    const again = await ledger.claim("warehouse", "k1", {
      owner: "c",
      ttlMs: 60_000,
      takeOverFrom: "dead-worker",
    });
    assert.equal(
      again.status,
      "held",
      "the claim changed hands: the named owner no longer holds it",
    );
    await rejectsWith(
      ledger.claim("warehouse", "k1", { owner: "c", ttlMs: 10, takeOverFrom: "" }),
      (e) => e instanceof InvalidArgumentError && e.path === "options.takeOverFrom",
      "empty takeOverFrom",
    );
  });

  test("a takeover racing the old holder's receipt: exactly one final receipt, never two", async (ledger, t) => {
    const entries = await fill(ledger, T(t), 20);
    for (const entry of entries) {
      const key = entry.envelope.key;
      const old = acquired(await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 }), "a");
      await t.expire(1000);
      const [late, takeover] = await Promise.allSettled([
        ledger.putReceipt(receiptFor(entry, { fencingToken: old.fencingToken })),
        ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000 }),
      ]);
      if (takeover.status === "fulfilled" && takeover.value.status === "acquired") {
        await ledger
          .putReceipt(
            receiptFor(entry, { fencingToken: takeover.value.claim.fencingToken, attempt: 2 }),
          )
          .catch(() => undefined);
      }
      assert.ok(
        late.status === "fulfilled" || codeIs("fenced")(late.reason),
        `the late receipt is stored or fenced, got ${String(late.status === "rejected" ? late.reason : "")}`,
      );
      const finals = (await ledger.getReceipts("warehouse", key)).filter(
        (r) => r.status === "written",
      );
      assert.equal(finals.length, 1, `key ${key}: ${finals.length} final receipts`);
    }
  });

  if (!durable) return;

  test("fencing tokens keep growing across a reopen", async (_ledger, t) => {
    let ledger = _ledger;
    const before = acquired(
      await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 1000 }),
      "before",
    );
    assert.ok(await ledger.releaseClaim(before));
    ledger = await t.reopen();
    const after = acquired(
      await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 }),
      "after",
    );
    assert.ok(
      after.fencingToken > before.fencingToken,
      `token ${after.fencingToken} after the reopen is not above ${before.fencingToken}`,
    );
  });
}

/** Durable, audited freezes per sink and origin. */
export function defineFreezeCases<L extends Ledger>(test: Define<L>, durable: boolean): void {
  test("freezeSink stores the freeze with its audit record; freezing again keeps the first", async (ledger) => {
    assert.deepEqual(await ledger.getFreezes("warehouse"), []);
    const freeze = await ledger.freezeSink("warehouse", { reason: "checksum drift", actor: "ops" });
    assert.equal(freeze.sink, "warehouse");
    assert.equal(freeze.origin, "manual");
    assert.equal(freeze.reason, "checksum drift");
    assert.equal(freeze.actor, "ops");
    assert.ok(!Number.isNaN(Date.parse(freeze.since)));
    const records = await collect(ledger.scanAudit());
    assert.equal(records.length, 1);
    const record = records[0];
    assert.equal(record?.index, freeze.audit);
    assert.equal(record?.action, "freeze");
    assert.deepEqual(record?.subject, { sink: "warehouse" });
    assert.deepEqual(record?.details, { origin: "manual" });
    const again = await ledger.freezeSink("warehouse", { reason: "again", actor: "other" });
    assert.deepEqual(again, freeze, "the freeze in place is kept");
    assert.equal((await collect(ledger.scanAudit())).length, 1, "nothing recorded twice");
    assert.deepEqual(await ledger.getFreezes("warehouse"), [freeze]);
    assert.deepEqual(await ledger.getFreezes("search"), []);
    assert.deepEqual(await ledger.listFreezes(), [freeze]);
  });

  test("freezes of different origins are independent; unfreezeSink lifts one origin, or all", async (ledger) => {
    const manual = await ledger.freezeSink("warehouse", { reason: "by hand", actor: "ops" });
    const policy = await ledger.freezeSink("warehouse", {
      reason: "3 mismatched",
      actor: "reconcile-job",
      origin: "reconcile",
    });
    const other = await ledger.freezeSink("search", { reason: "x", actor: "ops" });
    assert.deepEqual(await ledger.getFreezes("warehouse"), [manual, policy]);
    assert.deepEqual(await ledger.listFreezes(), [other, manual, policy]);
    const lifted = await ledger.unfreezeSink("warehouse", {
      reason: "converged",
      actor: "repair-job",
      origin: "reconcile",
    });
    assert.deepEqual(lifted, [policy]);
    assert.deepEqual(await ledger.getFreezes("warehouse"), [manual]);
    assert.deepEqual(
      await ledger.unfreezeSink("warehouse", {
        reason: "nothing",
        actor: "x",
        origin: "reconcile",
      }),
      [],
      "lifting a freeze that is not there does nothing",
    );
    const all = await ledger.unfreezeSink("search", { reason: "fixed", actor: "ops" });
    assert.deepEqual(all, [other]);
    assert.deepEqual(await ledger.listFreezes(), [manual]);
    const records = await collect(ledger.scanAudit());
    assert.deepEqual(
      records.map((r) => [r.action, r.subject?.sink, (r.details as { origin?: string }).origin]),
      [
        ["freeze", "warehouse", "manual"],
        ["freeze", "warehouse", "reconcile"],
        ["freeze", "search", "manual"],
        ["unfreeze", "warehouse", "reconcile"],
        ["unfreeze", "search", "manual"],
      ],
    );
    assert.ok((await ledger.verifyAudit()).ok);
  });

  test("freeze arguments are checked, and a refused call records nothing", async (ledger) => {
    const bad = (path: string) => (e: unknown) =>
      e instanceof InvalidArgumentError && e.path === path;
    await rejectsWith(
      ledger.freezeSink("", { reason: "r", actor: "a" }),
      bad("sink"),
      "empty sink",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "", actor: "a" }),
      bad("input.reason"),
      "empty reason",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "r", actor: "a", origin: "" }),
      bad("input.origin"),
      "empty origin",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "r", actor: "a", orign: "x" } as never),
      (e) => e instanceof InvalidArgumentError,
      "unknown key",
    );
    await rejectsWith(
      ledger.unfreezeSink("s", null as never),
      (e) => e instanceof InvalidArgumentError,
      "no input",
    );
    assert.equal((await ledger.verifyAudit()).count, 0);
    assert.deepEqual(await ledger.listFreezes(), []);
  });

  if (!durable) return;

  test("freezes survive a reopen", async (_ledger, t) => {
    let ledger = _ledger;
    const kept = await ledger.freezeSink("warehouse", { reason: "drift", actor: "ops" });
    await ledger.freezeSink("search", { reason: "gone", actor: "ops" });
    await ledger.unfreezeSink("search", { reason: "back", actor: "ops" });
    ledger = await t.reopen();
    assert.deepEqual(await ledger.listFreezes(), [kept]);
    assert.equal((await ledger.verifyAudit()).count, 3);
  });
}
