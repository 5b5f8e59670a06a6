import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import {
  type AuditInput,
  type AuditRecord,
  isSinkproofError,
  type SinkproofError,
} from "../src/index.js";
import { nextAuditRecord } from "../src/ledger/audit.js";

/** Path of a file under test/fixtures/vectors (copied from ../shared/vectors, never edited). */
export function vectorPath(relative: string): string {
  return fileURLToPath(new URL(`./fixtures/vectors/${relative}`, import.meta.url));
}

export function readVector(relative: string): string {
  return readFileSync(vectorPath(relative), "utf8");
}

/** Runs `fn`, expects it to throw a SinkproofError, and returns it. */
export function catchError(fn: () => unknown): SinkproofError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, "expected a thrown error").toBeDefined();
  if (!isSinkproofError(thrown)) {
    throw new Error(`expected a SinkproofError, got ${String(thrown)}`, { cause: thrown });
  }
  return thrown;
}

/** Nests `[...]` `depth` times around `inner`, without recursion. */
export function nestArrays(depth: number, inner: unknown = 0): unknown {
  let value: unknown = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Nests `{ a: ... }` `depth` times around `inner`, without recursion. */
export function nestObjects(depth: number, inner: unknown = 0): unknown {
  let value: unknown = inner;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** A valid audit chain of these inputs, a second apart from 2026-01-01 (hashes and links recomputed, as a forger could). */
export function auditChain(inputs: readonly AuditInput[]): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const [i, input] of inputs.entries()) {
    const last = out.at(-1);
    out.push(
      nextAuditRecord(
        input,
        last === undefined ? undefined : { index: last.index, hash: last.hash },
        new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      ),
    );
  }
  return out;
}

/** What `run` threw (anything), for exact assertions on it; fails when it does not throw. */
export function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

/** What `run` rejected with (anything); fails when it resolves. */
export async function rejected(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}
