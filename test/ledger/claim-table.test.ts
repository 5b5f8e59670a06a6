/**
 * The claim table of the memory and file ledgers (src/ledger/state.ts) forgets a claim when
 * it is released: it keeps the claims held, not one row per key ever delivered. Fencing
 * must not lose anything by it (a final receipt is stored only under the key's claim held
 * now, with its token): checked against a model that keeps every claim it gave.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClaimRequest } from "../../src/ledger/base-types.js";
import { ClaimTable } from "../../src/ledger/state.js";
import type { Claim } from "../../src/ledger/types.js";

const KEYS = ["k1", "k2", "k3"];

type Op =
  | { kind: "claim"; key: number; owner: number; takeOver: boolean }
  | { kind: "release"; pick: number }
  | { kind: "renew"; pick: number }
  | { kind: "tick" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("claim" as const),
    key: fc.nat(KEYS.length - 1),
    owner: fc.nat(2),
    takeOver: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("release" as const), pick: fc.nat(50) }),
  fc.record({ kind: fc.constant("renew" as const), pick: fc.nat(50) }),
  fc.record({ kind: fc.constant("tick" as const) }),
);

/** Every claim given, with whether it was released, and the latest token per key. */
interface Given {
  readonly claim: Claim;
  released: boolean;
}

describe("ClaimTable", () => {
  it("stores a final receipt only under the key's claim held now, and keeps only the claims held", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const table = new ClaimTable();
        const given: Given[] = [];
        const latest = new Map<string, Given>();
        let now = 0;
        let tokens = 0;
        for (const o of ops) {
          if (o.kind === "tick") {
            now += 600;
          } else if (o.kind === "claim") {
            const key = KEYS[o.key] as string;
            const owner = `o${o.owner}`;
            const held = latest.get(key);
            const request: ClaimRequest = {
              sink: "s",
              key,
              owner,
              token: `t${++tokens}`,
              now,
              expiresAt: now + 1000,
              ignoreDone: false,
              takeOverFrom: o.takeOver ? "o0" : undefined,
            };
            const result = table.claim(request, undefined);
            const live =
              held !== undefined &&
              !held.released &&
              held.claim.expiresAt > now &&
              (!o.takeOver || held.claim.owner !== "o0");
            if (live) {
              expect(result.status).toBe("held");
            } else {
              expect(result.status).toBe("acquired");
              if (result.status !== "acquired") return;
              for (const g of given) {
                expect(result.claim.fencingToken).toBeGreaterThan(g.claim.fencingToken);
              }
              const g = { claim: result.claim, released: false };
              given.push(g);
              latest.set(key, g);
            }
          } else if (given.length > 0) {
            const g = given[o.pick % given.length] as Given;
            const current = latest.get(g.claim.key) === g && !g.released;
            if (o.kind === "release") {
              expect(table.release(g.claim)).toBe(current);
              if (current) g.released = true;
            } else {
              expect(table.renew(g.claim, now + 1000)).toBe(current);
              if (current) {
                const renewed = { ...g.claim, expiresAt: now + 1000 };
                const again = { claim: renewed, released: false };
                given[given.indexOf(g)] = again;
                latest.set(g.claim.key, again);
              }
            }
          }
          // Fencing, for every key and every token given (and one never given): stored
          // only under the key's claim held now with exactly that token. The SQL ledgers,
          // which keep every released row, answer the same (conformance-claims.ts).
          const asked = [...given.map((g) => g.claim.fencingToken), 10_000];
          for (const key of KEYS) {
            const holding = latest.get(key);
            for (const token of asked) {
              const storable =
                holding !== undefined && !holding.released && holding.claim.fencingToken === token;
              expect(table.fenced("s", key, token)).toBe(!storable);
            }
          }
          const held = [...latest.values()].filter((g) => !g.released).length;
          expect(table.size).toBe(held);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("holds nothing after 100,000 keys claimed and released, and still fences a late receipt", () => {
    const table = new ClaimTable();
    const request = (key: string, owner: string, now: number): ClaimRequest => ({
      sink: "s",
      key,
      owner,
      token: `${owner}-${key}-${now}`,
      now,
      expiresAt: now + 1000,
      ignoreDone: false,
      takeOverFrom: undefined,
    });
    const first = table.claim(request("k0", "slow", 0), undefined);
    if (first.status !== "acquired") throw new Error("first claim not acquired");
    // The slow holder's claim expires; a second holder takes k0 over, writes, releases.
    const second = table.claim(request("k0", "fast", 2000), undefined);
    if (second.status !== "acquired") throw new Error("takeover not acquired");
    expect(table.release(second.claim)).toBe(true);
    for (let i = 1; i <= 100_000; i++) {
      const r = table.claim(request(`k${i}`, "w", 3000), undefined);
      if (r.status !== "acquired") throw new Error(`k${i} not acquired`);
      expect(table.release(r.claim)).toBe(true);
    }
    expect(table.size).toBe(0);
    expect(table.fenced("s", "k0", first.claim.fencingToken)).toBe(true);
    expect(table.fenced("s", "k0", second.claim.fencingToken)).toBe(true);
    // A key held now takes a receipt under its own token only.
    const third = table.claim(request("k0", "late", 4000), undefined);
    if (third.status !== "acquired") throw new Error("third claim not acquired");
    expect(table.fenced("s", "k0", third.claim.fencingToken)).toBe(false);
    expect(table.fenced("s", "k1", third.claim.fencingToken)).toBe(true);
  });
});
