/**
 * Conformance cases for claims: acquiring, holding, renewing and releasing them
 * (`ledgerClaimCases`), and the fencing tokens that let a paused writer's late write be
 * refused (`ledgerFencingCases`, `ledgerTakeoverCases`). Part of the public suite
 * (`ledgerConformance`); every adapter runs them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError, LedgerError } from "../errors.js";
import type { Claim, Ledger, LedgerEntry } from "../ledger/types.js";
import {
  type ConformanceGroup,
  codeIs,
  defineGroup,
  fill,
  firstEntry,
  receiptFor,
  rejectsWith,
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

/**
 * Conformance cases for claims: one acquires and others see it held until it expires, then
 * it can be taken over; `renewClaim` extends it and `releaseClaim` frees the key; a key with
 * a final receipt is `done` (failed receipts do not count), and a replay claim acquires it,
 * still exclusive; 50 concurrent claims of one key, exactly one acquires; arguments are
 * checked. One of the groups {@link ledgerConformance} runs.
 */
export const ledgerClaimCases: ConformanceGroup = defineGroup((test) => {
  test("claim acquires; others see it held until it expires; then it can be taken over", async (ledger, t) => {
    const first = await ledger.claim("warehouse", "k1", { owner: "worker-a", ttlMs: 1000 });
    assert.equal(first.status, "acquired");
    const second = await ledger.claim("warehouse", "k1", { owner: "worker-b", ttlMs: 1000 });
    assert.equal(second.status, "held");
    if (second.status === "held" && first.status === "acquired") {
      assert.equal(second.owner, "worker-a");
      assert.equal(second.expiresAt, first.claim.expiresAt);
    }
    const same = await ledger.claim("warehouse", "k1", { owner: "worker-a", ttlMs: 1000 });
    assert.equal(same.status, "held", "a claim is exclusive even for its own owner");
    assert.equal(
      (await ledger.claim("search", "k1", { owner: "worker-b", ttlMs: 1000 })).status,
      "acquired",
    );
    await t.expire(1000);
    const takeover = await ledger.claim("warehouse", "k1", { owner: "worker-b", ttlMs: 1000 });
    assert.equal(takeover.status, "acquired");
    if (first.status === "acquired") {
      await rejectsWith(
        ledger.renewClaim(first.claim, 1000),
        codeIs("claim_lost"),
        "renew after takeover",
      );
      assert.equal(await ledger.releaseClaim(first.claim), false);
    }
  });

  test("renewClaim extends a claim; releaseClaim frees the key", async (ledger, t) => {
    const result = await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 1000 });
    assert.ok(result.status === "acquired");
    const renewed = await ledger.renewClaim(result.claim, 5000);
    assert.ok(renewed.expiresAt > result.claim.expiresAt);
    await t.expire(1000);
    assert.equal(
      (await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 })).status,
      "held",
    );
    assert.equal(await ledger.releaseClaim(renewed), true);
    assert.equal(await ledger.releaseClaim(renewed), false);
    assert.equal(
      (await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 1000 })).status,
      "acquired",
    );
  });

  test("claim is done once the key has a final receipt; failed receipts do not count", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    const key = entry.envelope.key;
    await ledger.putReceipt(
      receiptFor(entry, { status: "failed", error: { code: "e", message: "x" } }),
    );
    const claimed = await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 });
    assert.equal(claimed.status, "acquired");
    const written = receiptFor(entry, { attempt: 2 });
    await ledger.putReceipt(written);
    if (claimed.status === "acquired") await ledger.releaseClaim(claimed.claim);
    const done = await ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000 });
    assert.equal(done.status, "done");
    if (done.status === "done") assert.deepEqual(done.receipt, written);
    assert.equal(
      (await ledger.claim("search", key, { owner: "b", ttlMs: 1000 })).status,
      "acquired",
    );
  });

  test("a replay claim acquires a done key, and is still exclusive", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    await ledger.putReceipt(receiptFor(entry));
    const key = entry.envelope.key;
    assert.equal(
      (await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000 })).status,
      "done",
    );
    const replay = await ledger.claim("warehouse", key, { owner: "a", ttlMs: 1000, replay: true });
    assert.equal(replay.status, "acquired");
    const other = await ledger.claim("warehouse", key, { owner: "b", ttlMs: 1000, replay: true });
    assert.equal(other.status, "held");
  });

  test("concurrent claims of one key: exactly one acquires", async (ledger) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ledger.claim("warehouse", "hot", { owner: `w${i}`, ttlMs: 10_000 }),
      ),
    );
    assert.equal(results.filter((r) => r.status === "acquired").length, 1);
    assert.equal(results.filter((r) => r.status === "held").length, 49);
  });

  test("claim arguments are checked", async (ledger) => {
    await rejectsWith(
      ledger.claim("warehouse", "k", { owner: "a", ttlMs: 0 }),
      (e) => e instanceof InvalidArgumentError && e.path === "options.ttlMs",
      "ttl 0",
    );
    await rejectsWith(
      ledger.claim("", "k", { owner: "a", ttlMs: 10 }),
      (e) => e instanceof InvalidArgumentError,
      "empty sink",
    );
    await rejectsWith(
      ledger.claim("s", "k", null as never),
      (e) => e instanceof InvalidArgumentError,
      "no options",
    );
  });
});

/**
 * Conformance cases for fencing tokens: every acquisition of a key (takeover, after a
 * release, replay) gets a token above the last; a released claim can be neither renewed nor
 * released again; a final receipt under an older token is refused with `fenced`, and the
 * newer holder's is kept; a final receipt is stored only under the key's claim held now
 * (not after its release, not under a token not given for it), by `putReceipt` and
 * `putReceipts` alike. One of the groups {@link ledgerConformance} runs.
 */
export const ledgerFencingCases: ConformanceGroup = defineGroup((test) => {
  test("every acquisition of a key gets a fencing token above the last: takeover, release, replay", async (ledger, t) => {
    const [entry] = await fill(ledger, t, 1);
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
    const [entry] = await fill(ledger, t, 1);
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

  test("a final receipt is stored only under the key's claim held now: not once released, not under a token not given for it", async (ledger, t) => {
    const [first, second, third] = (await fill(ledger, t, 3)) as LedgerEntry[];
    const a = (first as LedgerEntry).envelope.key;
    const b = (second as LedgerEntry).envelope.key;
    const mine = acquired(await ledger.claim("warehouse", a, { owner: "a", ttlMs: 1000 }), "a");
    const other = acquired(await ledger.claim("warehouse", b, { owner: "b", ttlMs: 1000 }), "b");
    // A token never given for the key is not its claim; nor is any token of a key unclaimed.
    await rejectsWith(
      ledger.putReceipt(receiptFor(first as LedgerEntry, { fencingToken: mine.fencingToken + 7 })),
      codeIs("fenced"),
      "under a token not given for the key",
    );
    await rejectsWith(
      ledger.putReceipt(receiptFor(third as LedgerEntry, { fencingToken: mine.fencingToken })),
      codeIs("fenced"),
      "a key never claimed",
    );
    assert.ok(await ledger.releaseClaim(other));
    // Released by its own holder: a receipt under its token comes too late.
    await rejectsWith(
      ledger.putReceipt(receiptFor(second as LedgerEntry, { fencingToken: other.fencingToken })),
      codeIs("fenced"),
      "under its own token after the release",
    );
    assert.deepEqual(
      await ledger.putReceipts([
        receiptFor(second as LedgerEntry, { fencingToken: other.fencingToken }),
        receiptFor(first as LedgerEntry, { fencingToken: mine.fencingToken + 1_000_000 }),
      ]),
      ["fenced", "fenced"],
      "putReceipts answers the same",
    );
    // Expired and not taken over, the claim is still the key's: its holder's receipt counts.
    await t.expire(1000);
    const kept = receiptFor(first as LedgerEntry, { fencingToken: mine.fencingToken });
    await ledger.putReceipt(kept);
    for (const [entry, expected] of [
      [first, [kept]],
      [second, []],
      [third, []],
    ] as const) {
      assert.deepEqual(
        await ledger.getReceipts("warehouse", (entry as LedgerEntry).envelope.key),
        expected,
        "nothing else stored",
      );
    }
  });
});

/**
 * Conformance cases for takeovers: `takeOverFrom` takes a live claim over from exactly that
 * owner, and no other; a takeover racing the old holder's receipt leaves exactly one final
 * receipt; with `durable`, fencing tokens keep growing across a reopen. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerTakeoverCases: ConformanceGroup = defineGroup((test, durable) => {
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
    const entries = await fill(ledger, t, 20);
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
});
