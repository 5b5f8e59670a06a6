/**
 * Adversarial suite: every public function × every hostile value, in every argument
 * position and every listed nested option, the other arguments valid.
 *
 * Each call must answer with a typed error from the one hierarchy (`isSinkproofError`, a
 * `code`, and a `path` for argument errors) or succeed; never a raw TypeError, RangeError,
 * ZodError or thrown non-Error, never a hang, and, when it fails, never a changed ledger
 * (entries, receipts, watermarks, freezes, audit log, claims). Predicates (`isId`, ...)
 * must return a boolean and never throw at all. One exception to "typed": a function the
 * caller gave (a clock, an id factory, a validator, a sink's `observe`) that throws has its
 * own error passed back unchanged, that exact error (counted as `propagated`); the ledger
 * must still be unchanged.
 *
 * One assertion per function lists every problem at once. With `HOSTILE_REPORT=<file>`
 * the suite also writes every problem (and every synchronous throw from a function that
 * otherwise returns a promise) to that file as JSON; `HOSTILE_ONLY=<regex>` runs only the
 * functions whose name matches; `HOSTILE_TRACE=<file>` appends each call's name to that file
 * before making it (to find a call that crashes the worker).
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { types } from "node:util";
import { InvalidArgumentError, isSinkproofError, type Ledger } from "sinkproof";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostileCase, hostileCases, SINKS } from "./support/hostile-cases.js";
import { HostileTrapError, hostileValues, lastNonErrorTrap } from "./support/hostile-values.js";

/** Hostile values that are functions which throw when called: the caller's own callbacks. */
const CALLBACK_VALUES: ReadonlySet<string> = new Set([
  "proxy: function whose apply trap throws",
  "function: throws",
]);

/** A call that has not settled after this long is a hang. */
const TIMEOUT_MS = 3000;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ONLY = process.env.HOSTILE_ONLY ? new RegExp(process.env.HOSTILE_ONLY) : undefined;
const TRACE = process.env.HOSTILE_TRACE || undefined;

interface Problem {
  readonly kind: string;
  readonly position: string;
  readonly value: string;
  readonly error: string;
  readonly frame: string;
}

interface FnReport {
  calls: number;
  ok: number;
  typed: number;
  /** The caller's own callback threw, and its error came back unchanged. */
  propagated: number;
  problems: string[];
  records: Problem[];
  syncThrows: string[];
}

function note(report: FnReport, problem: Problem): void {
  report.records.push(problem);
  const at = problem.frame === "" ? "" : ` @ ${problem.frame}`;
  report.problems.push(
    `${problem.kind} ${problem.position} ← ${problem.value}: ${problem.error}${at}`,
  );
}
const reports = new Map<string, FnReport>();
const unhandled: string[] = [];
let current = "(between calls)";

const onUnhandled = (reason: unknown) => {
  unhandled.push(`${current}: ${describeError(reason)} @ ${srcFrame(reason)}`);
};

beforeAll(() => {
  // Unlimited, so that a stack overflow deep in native code still shows its src/ caller.
  Error.stackTraceLimit = Number.POSITIVE_INFINITY;
  process.on("unhandledRejection", onUnhandled);
});

afterAll(() => {
  process.off("unhandledRejection", onUnhandled);
  const file = process.env.HOSTILE_REPORT;
  if (file !== undefined && file !== "") {
    const calls = [...reports.values()].reduce((n, r) => n + r.calls, 0);
    writeFileSync(
      file,
      JSON.stringify({ calls, unhandled, functions: Object.fromEntries(reports) }, null, 2),
    );
  }
});

// ------------------------------------------------------------------ describing outcomes

function truncate(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

function safeString(value: unknown): string {
  try {
    return typeof value === "symbol" ? value.toString() : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function describeError(error: unknown): string {
  try {
    if (error instanceof Error) {
      const ctor = (error.constructor as { name?: unknown } | undefined)?.name;
      return `${typeof ctor === "string" ? ctor : error.name}: ${truncate(error.message)}`;
    }
    return `thrown non-Error (${error === null ? "null" : typeof error}): ${truncate(safeString(error))}`;
  } catch {
    return "(a thrown value that cannot be inspected)";
  }
}

/**
 * The first stack frame under src/, as `src/file.ts:line`, plus the top frame if elsewhere.
 * A thrown non-Error has no stack: the stack recorded where its trap was sprung stands in.
 */
function srcFrame(error: unknown): string {
  let stack: string | undefined;
  try {
    stack = error instanceof Error ? error.stack : undefined;
  } catch {
    stack = undefined;
  }
  if (stack === undefined && !(error instanceof Error) && lastNonErrorTrap.stack !== undefined) {
    stack = lastNonErrorTrap.stack;
    lastNonErrorTrap.stack = undefined;
  }
  if (typeof stack !== "string") return "(no stack)";
  const frames = stack
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .map((line) => {
      const m = /((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)\)?\s*$/.exec(line);
      if (m === null) return { text: line.trim(), file: undefined as string | undefined };
      const file = (m[1] as string).replace(/^file:\/\//, "");
      return { text: `${relative(ROOT, file)}:${m[2]}`, file };
    });
  const src = frames.find((f) => f.file?.startsWith(`${ROOT}src/`) === true);
  const top = frames[0]?.text ?? "(no frames)";
  if (src === undefined) return `(no src frame; top: ${top})`;
  return src.text === top ? src.text : `${src.text} (top: ${top})`;
}

/** Why a thrown error is not an acceptable typed error; undefined when it is. */
function badTyped(error: unknown): string | undefined {
  try {
    if (!isSinkproofError(error)) return "RAW";
    const code = (error as { code?: unknown }).code;
    if (typeof code !== "string" || code.length === 0) return "BAD-TYPED (no code)";
    const argument =
      error instanceof InvalidArgumentError ||
      code === "invalid_argument" ||
      code === "invalid_checksum";
    if (argument) {
      const path = (error as { path?: unknown }).path;
      if (typeof path !== "string" || path.length === 0)
        return "BAD-TYPED (argument error without path)";
    }
    if (typeof error.message !== "string" || error.message.length === 0)
      return "BAD-TYPED (no message)";
    return undefined;
  } catch {
    return "RAW (uninspectable)";
  }
}

// ------------------------------------------------------------------ building calls

/** `options.retry.attempts` → ["options", "retry", "attempts"]; `a[b.c]` keeps `b.c` whole. */
function parsePath(spec: string): string[] {
  return [...spec.matchAll(/\[([^\]]+)\]|[^.[\]]+/g)].map((m) => m[1] ?? m[0]);
}

/** A copy of `container` with `value` at `keys` (copying each plain object or array on the way). */
function replaceAt(container: unknown, keys: readonly string[], value: unknown): unknown {
  const [head, ...rest] = keys;
  if (head === undefined) return value;
  const copy: Record<string, unknown> = Array.isArray(container)
    ? ([...container] as unknown as Record<string, unknown>)
    : { ...(typeof container === "object" && container !== null ? container : {}) };
  copy[head] = replaceAt(copy[head], rest, value);
  return copy;
}

interface Position {
  readonly label: string;
  readonly build: (args: readonly unknown[], value: unknown) => unknown[];
}

function positionsOf(c: HostileCase): Position[] {
  const out: Position[] = [];
  c.params.forEach((param, i) => {
    if (c.skipWhole?.includes(param)) return;
    out.push({
      label: param,
      build: (args, value) => {
        const copy = [...args];
        copy[i] = value;
        return copy;
      },
    });
  });
  for (const spec of c.nested ?? []) {
    const [first, ...rest] = parsePath(spec);
    const i = c.params.indexOf(first as string);
    if (i < 0) throw new Error(`${c.fn}: nested path ${spec} names no parameter`);
    out.push({
      label: spec,
      build: (args, value) => {
        const copy = [...args];
        copy[i] = replaceAt(copy[i], rest, value);
        return copy;
      },
    });
  }
  return out;
}

type Outcome =
  | { readonly kind: "ok"; readonly value: unknown; readonly promise: boolean }
  | { readonly kind: "threw"; readonly error: unknown; readonly sync: boolean }
  | { readonly kind: "hang" };

/**
 * Calls, awaits a returned promise, reads a returned iterable; races it all with a timeout.
 * `awaits` is false for a function whose baseline returned no promise: what it returns may
 * be the hostile value itself (`permanent(x)` returns `x`), which the suite must not touch.
 */
async function attempt(
  c: HostileCase,
  ctx: unknown,
  args: unknown[],
  awaits: boolean,
): Promise<Outcome> {
  let promise = false;
  let sync = true;
  const run = (async (): Promise<Outcome> => {
    try {
      let value = c.call(ctx, args);
      // util.types.isPromise springs no trap, unlike instanceof on a Proxy.
      if (awaits && types.isPromise(value)) {
        promise = true;
        sync = false;
        value = await value;
      }
      sync = false;
      if (c.iterate && typeof value === "object" && value !== null) {
        if (Symbol.asyncIterator in value) {
          for await (const _ of value as AsyncIterable<unknown>) {
            // read to the end
          }
        } else if (Symbol.iterator in value) {
          for (const _ of value as Iterable<unknown>) {
            // read to the end
          }
        }
      }
      return { kind: "ok", value, promise };
    } catch (error) {
      return { kind: "threw", error, sync };
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "hang" }), TIMEOUT_MS);
  });
  try {
    return await Promise.race([run, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The ledger's state as its public API shows it, claims of the stored keys included. */
async function snapshot(ledger: Ledger): Promise<string> {
  const entries: unknown[] = [];
  const keys: string[] = [];
  for await (const e of ledger.scan()) {
    entries.push([e.position, e.envelope.key, e.envelope.checksum]);
    keys.push(e.envelope.key);
  }
  const receipts: Record<string, unknown[]> = {};
  const watermarks: Record<string, number> = {};
  const claims: Record<string, string> = {};
  for (const sink of SINKS) {
    const list: unknown[] = [];
    for await (const r of ledger.scanReceipts(sink)) list.push([r.key, r.status, r.attempt]);
    receipts[sink] = list;
    watermarks[sink] = await ledger.getWatermark(sink);
    for (const key of keys) {
      const probe = await ledger.claim(sink, key, { owner: "snapshot-probe", ttlMs: 1000 });
      claims[`${sink}/${key}`] = probe.status === "held" ? `held by ${probe.owner}` : probe.status;
      if (probe.status === "acquired") await ledger.releaseClaim(probe.claim);
    }
  }
  const freezes = (await ledger.listFreezes()).map((f) => [f.sink, f.origin, f.reason]);
  const audit: unknown[] = [];
  for await (const a of ledger.scanAudit()) audit.push([a.index, a.action, a.hash.slice(0, 12)]);
  return JSON.stringify({
    head: await ledger.head(),
    entries,
    receipts,
    watermarks,
    claims,
    freezes,
    audit,
  });
}

async function safeSnapshot(ledger: Ledger): Promise<string> {
  try {
    return await snapshot(ledger);
  } catch (error) {
    return `(the ledger can no longer be read: ${describeError(error)})`;
  }
}

/** The parts of two snapshots that differ: `part.key: before → after`, `part: +[added]`. */
function difference(a: string, b: string): string {
  let before: Record<string, unknown>;
  let after: Record<string, unknown>;
  try {
    before = JSON.parse(a) as Record<string, unknown>;
    after = JSON.parse(b) as Record<string, unknown>;
  } catch {
    return `${truncate(a, 200)} → ${truncate(b, 200)}`;
  }
  const show = (v: unknown) => truncate(String(JSON.stringify(v)), 160);
  const parts: string[] = [];
  for (const key of Object.keys({ ...before, ...after })) {
    const x = before[key];
    const y = after[key];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (Array.isArray(x) && Array.isArray(y) && y.length > x.length) {
      const head = JSON.stringify(y.slice(0, x.length));
      if (head === JSON.stringify(x)) {
        parts.push(`${key}: +${show(y.slice(x.length))}`);
        continue;
      }
    }
    const isMap = (v: unknown): v is Record<string, unknown> =>
      typeof v === "object" && v !== null && !Array.isArray(v);
    if (isMap(x) && isMap(y)) {
      for (const sub of Object.keys({ ...x, ...y })) {
        if (JSON.stringify(x[sub]) !== JSON.stringify(y[sub]))
          parts.push(`${key}.${sub}: ${show(x[sub])} → ${show(y[sub])}`);
      }
      continue;
    }
    parts.push(`${key}: ${show(x)} → ${show(y)}`);
  }
  return parts.join("; ");
}

// ------------------------------------------------------------------ the suite

const VALUE_NAMES = hostileValues().map((v) => v.name);

async function runCase(c: HostileCase): Promise<FnReport> {
  const report: FnReport = {
    calls: 0,
    ok: 0,
    typed: 0,
    propagated: 0,
    problems: [],
    records: [],
    syncThrows: [],
  };
  reports.set(c.fn, report);

  // The baseline: valid arguments must succeed, or the fixture (not the library) is wrong.
  let returnsPromise = false;
  {
    const ctx = await c.setup();
    const cwd = c.cwd?.(ctx);
    const previous = process.cwd();
    if (cwd !== undefined) process.chdir(cwd);
    current = `${c.fn} baseline`;
    let outcome: Outcome;
    try {
      outcome = await attempt(c, ctx, c.args(ctx), true);
    } finally {
      if (cwd !== undefined) process.chdir(previous);
      await c.cleanup?.(ctx);
    }
    if (outcome.kind !== "ok") {
      report.problems.push(
        `BASELINE-FAILED: ${outcome.kind === "hang" ? "hang" : `${describeError(outcome.error)} @ ${srcFrame(outcome.error)}`}`,
      );
      return report;
    }
    if (c.predicate && typeof outcome.value !== "boolean") {
      report.problems.push(`BASELINE-FAILED: predicate returned ${typeof outcome.value}`);
    }
    returnsPromise = outcome.promise;
  }

  for (const position of positionsOf(c)) {
    for (let v = 0; v < VALUE_NAMES.length; v++) {
      const ctx = await c.setup();
      const args = c.args(ctx);
      const hostile = hostileValues(c.envelope?.(ctx))[v];
      if (hostile === undefined) throw new Error("hostile values changed length");
      const where = `${position.label} ← ${hostile.name}`;
      const base = { position: position.label, value: hostile.name };
      if (c.crashes?.includes(where)) {
        report.calls++;
        note(report, {
          ...base,
          kind: "CRASH",
          error: "exhausts the heap and kills the worker (not made)",
          frame: "",
        });
        continue;
      }
      current = `${c.fn} ${where}`;
      if (TRACE !== undefined) appendFileSync(TRACE, `${current}\n`);
      const callArgs = position.build(args, hostile.make());
      const ledger = c.ledger?.(ctx);
      const before = ledger === undefined ? undefined : await safeSnapshot(ledger);
      const cwd = c.cwd?.(ctx);
      const previous = process.cwd();
      if (cwd !== undefined) process.chdir(cwd);
      let outcome: Outcome;
      try {
        outcome = await attempt(c, ctx, callArgs, returnsPromise);
      } finally {
        if (cwd !== undefined) process.chdir(previous);
      }
      report.calls++;

      if (outcome.kind === "hang") {
        note(report, { ...base, kind: "HANG", error: `no answer in ${TIMEOUT_MS} ms`, frame: "" });
      } else if (outcome.kind === "ok") {
        report.ok++;
        if (c.predicate && typeof outcome.value !== "boolean") {
          note(report, {
            ...base,
            kind: "PREDICATE-NOT-BOOLEAN",
            error: `returned ${typeof outcome.value}`,
            frame: "",
          });
        }
      } else {
        const error = outcome.error;
        const frame = srcFrame(error);
        let verdict: string | undefined = c.predicate ? "PREDICATE-THREW" : badTyped(error);
        // The caller's own function (a clock, an id factory, a validator, a sink's observe)
        // threw: its error is the caller's to see, passed on as it is. Only that: the
        // error must be exactly the one the hostile function threw.
        if (
          verdict === "RAW" &&
          CALLBACK_VALUES.has(hostile.name) &&
          error instanceof HostileTrapError
        ) {
          verdict = undefined;
          report.propagated++;
        } else if (verdict === undefined) report.typed++;
        else
          note(report, {
            ...base,
            kind: verdict,
            error: describeError(error),
            frame,
          });
        // A function that returns a promise should reject it, not throw before returning.
        if (outcome.sync && returnsPromise) {
          report.syncThrows.push(`${where}: ${describeError(error)}`);
        }
        if (
          ledger !== undefined &&
          before !== undefined &&
          !c.progressive?.includes(position.label)
        ) {
          const after = await safeSnapshot(ledger);
          if (after !== before) {
            note(report, {
              ...base,
              kind: "HALF-WRITTEN",
              error: `failed with ${describeError(error)}, yet changed the ledger: ${difference(before, after)}`,
              frame,
            });
          }
        }
      }
      await c.cleanup?.(ctx);
    }
  }
  current = "(between calls)";
  return report;
}

describe("hostile input: every public function answers with a typed error", () => {
  for (const c of hostileCases()) {
    if (ONLY !== undefined && !ONLY.test(c.fn)) continue;
    it(c.fn, { timeout: 180_000 }, async () => {
      const report = await runCase(c);
      expect(report.problems).toEqual([]);
    });
  }

  it("no call left an unhandled rejection behind", async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled).toEqual([]);
  });
});
