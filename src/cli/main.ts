/**
 * The `sinkproof` command: reconcile, repair, audit and inspect a ledger from cron or CI,
 * with a config module naming the ledger and the sinks (`config.ts`). Exit codes: 0
 * consistent (or done), 1 findings (or a repair that did not converge, an audit chain
 * that does not verify, a key not found), 2 usage or config error, 3 runtime error.
 * Reports go to stdout (or `--out`), progress and errors to stderr. Internal: the
 * package's `bin`.
 *
 * @module
 */

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { isSinkproofError } from "../errors.js";
import type { Ledger } from "../ledger/types.js";
import { createMonitor } from "../reconcile/monitor.js";
import { reconcile } from "../reconcile/reconcile.js";
import { renderReport } from "../reconcile/render.js";
import { type RepairResult, repair } from "../reconcile/repair.js";
import type { ReconcileProgress, ReconcileReport, ReconcileSink } from "../reconcile/types.js";
import { ConfigError, loadConfig, type SinkproofConfig, sinksOf } from "./config.js";

/** Exit codes. */
const OK = 0;
const FINDINGS = 1;
const USAGE = 2;
const RUNTIME = 3;

/** A usage mistake: exit code 2, with the command's help. */
class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Where the command writes: injectable for tests of `run`. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly isTTY: boolean;
}

const COMMON = `  --config FILE   the config module (default: sinkproof.config.mjs): its default export is
                  { ledger: () => Promise<Ledger>, sinks: [...] } (defineConfig from "sinkproof")
  --help          this help`;

const HELP: Record<string, string> = {
  main: `sinkproof: prove every sink holds what the ledger says was emitted

usage: sinkproof <command> [options]

commands:
  reconcile        compare every sink with the ledger and print the report
  repair           reconcile, then plan (--dry-run) or run (--yes) the repair
  audit verify     check the audit log's hash chain
  ledger stats     the ledger's head, and each sink's watermark and checkpoint
  ledger get KEY   one entry, as JSON
  ledger tail      the last entries, one JSON line each
  monitor          reconcile on a schedule, one JSON line per alert, until SIGINT/SIGTERM

exit codes: 0 consistent, 1 findings, 2 usage or config error, 3 runtime error
'sinkproof <command> --help' says more about each.`,
  reconcile: `usage: sinkproof reconcile [--config FILE] [--sink NAME]... [--format md|html|json] [--out FILE] [--incremental] [--history]

Compares each sink with the ledger and prints the report (Markdown by default; JSON on
stdout with --format json). Exit 0 when every sink is consistent, 1 when there are findings.
  --sink NAME     only this sink (repeatable)
  --format F      md, html or json (default md)
  --out FILE      write the report to FILE instead of stdout
  --incremental   check each sink after its checkpoint (and move it)
  --history       keep each sink's consistency window in the ledger, and draw it (html)
${COMMON}`,
  repair: `usage: sinkproof repair [--config FILE] [--sink NAME]... (--dry-run | --yes --actor NAME --reason TEXT) [--format md|html|json] [--out FILE]

Reconciles, then plans the repair (--dry-run: nothing changes) or runs it (--yes, with
who and why for the audit log). Exit 0 when the repair converged (or, dry, had nothing to
do), 1 otherwise.
  --dry-run       plan only
  --yes           run it
  --actor NAME    who repairs (with --yes)
  --reason TEXT   why, e.g. a ticket (with --yes)
  --sink NAME     only this sink (repeatable)
  --format F      md, html or json (default md)
  --out FILE      write the report to FILE instead of stdout
${COMMON}`,
  audit: `usage: sinkproof audit verify [--config FILE]

Checks the audit log's hash chain (every hash, link and index, and that each outcome
settles an intent). Prints the verification as JSON. Exit 0 when it verifies, 1 otherwise.
${COMMON}`,
  ledger: `usage: sinkproof ledger stats | get KEY | tail [--n N]  [--config FILE]

  stats           the head, capabilities, and each sink's watermark and checkpoint (JSON)
  get KEY         the entry of KEY (JSON); exit 1 when there is none
  tail            the last N entries (default 10), one JSON line each
${COMMON}`,
  monitor: `usage: sinkproof monitor [--config FILE] [--every-ms MS] [--sweep-every-ms MS]

Runs createMonitor: an incremental pass every --every-ms (default 60000), a full sweep
every --sweep-every-ms (default a day), one JSON line per alert on stdout and one per pass
on stderr, until SIGINT or SIGTERM (then it waits for a running pass and exits 0).
${COMMON}`,
};

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.stdout(`${HELP.main}\n`);
    return command === undefined ? USAGE : OK;
  }
  const help = command !== "main" && Object.hasOwn(HELP, command) ? HELP[command] : undefined;
  if (help === undefined) {
    io.stderr(`sinkproof: unknown command ${JSON.stringify(command)}\n\n${HELP.main}\n`);
    return USAGE;
  }
  let ledger: Ledger | undefined;
  let sinks: readonly ReconcileSink[] = [];
  let opened: readonly ReconcileSink[] = [];
  try {
    const { values, positionals } = parse(rest, command);
    if (values.help === true) {
      io.stdout(`${help}\n`);
      return OK;
    }
    if (TAKES_NO_ARGUMENTS.has(command) && positionals.length > 0)
      throw new UsageError(
        `${command} takes no arguments, got ${positionals.map((p) => JSON.stringify(p)).join(" ")} (a sink is --sink NAME)`,
      );
    const file = (values.config as string | undefined) ?? "sinkproof.config.mjs";
    const config = await loadConfig(file);
    ledger = await openLedger(config, file);
    const chosen = await sinksOf(config, ledger, file, (values.sink as string[] | undefined) ?? []);
    opened = chosen.all;
    sinks = chosen.selected;
    switch (command) {
      case "reconcile":
        return await reconcileCommand(values, ledger, sinks, io);
      case "repair":
        return await repairCommand(values, ledger, sinks, io);
      case "audit":
        return await auditCommand(positionals, ledger, io);
      case "ledger":
        return await ledgerCommand(values, positionals, ledger, sinks, io);
      case "monitor":
        return await monitorCommand(values, ledger, sinks, io);
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`sinkproof ${command}: ${error.message}\n\n${help}\n`);
      return USAGE;
    }
    if (error instanceof ConfigError) {
      io.stderr(`sinkproof ${command}: ${error.message}\n`);
      return USAGE;
    }
    io.stderr(`sinkproof ${command}: ${describeError(error)}\n`);
    return RUNTIME;
  } finally {
    for (const sink of opened) {
      const close = (sink as { close?: unknown }).close;
      if (typeof close === "function")
        await Promise.resolve(close.call(sink)).catch(() => undefined);
    }
    await ledger?.close().catch(() => undefined);
  }
}

function describeError(error: unknown): string {
  if (isSinkproofError(error))
    return `${error.code}: ${error.message}${error.path === undefined ? "" : ` (at ${error.path})`}`;
  return error instanceof Error ? error.message : String(error);
}

const OPTIONS = {
  config: { type: "string" },
  sink: { type: "string", multiple: true },
  format: { type: "string" },
  out: { type: "string" },
  incremental: { type: "boolean" },
  history: { type: "boolean" },
  "dry-run": { type: "boolean" },
  yes: { type: "boolean" },
  actor: { type: "string" },
  reason: { type: "string" },
  n: { type: "string" },
  "every-ms": { type: "string" },
  "sweep-every-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which options each command takes (any other is a usage error). */
const ALLOWED: Record<string, readonly string[]> = {
  reconcile: ["config", "sink", "format", "out", "incremental", "history", "help"],
  repair: ["config", "sink", "format", "out", "dry-run", "yes", "actor", "reason", "help"],
  audit: ["config", "help"],
  ledger: ["config", "n", "sink", "help"],
  monitor: ["config", "every-ms", "sweep-every-ms", "sink", "help"],
};

function parse(args: readonly string[], command: string) {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const allowed = ALLOWED[command] ?? [];
  for (const key of Object.keys(parsed.values))
    if (!allowed.includes(key)) throw new UsageError(`--${key} is not an option of ${command}`);
  return parsed;
}

async function openLedger(config: SinkproofConfig, file: string): Promise<Ledger> {
  const ledger = await config.ledger();
  if (typeof ledger !== "object" || ledger === null || typeof ledger.scan !== "function")
    throw new ConfigError(`${file}: default.ledger() must return a Ledger`);
  return ledger;
}

/** Commands that take options only. */
const TAKES_NO_ARGUMENTS: ReadonlySet<string> = new Set(["reconcile", "repair", "monitor"]);

type Values = Record<string, string | boolean | string[] | undefined>;

function formatOf(values: Values): "markdown" | "html" | "json" {
  const given = (values.format as string | undefined) ?? "md";
  if (given === "md" || given === "markdown") return "markdown";
  if (given === "html" || given === "json") return given;
  throw new UsageError(`--format must be md, html or json, got ${JSON.stringify(given)}`);
}

/** Progress on stderr: a bar that redraws on a TTY, a plain line a second otherwise. */
function progress(io: Io): (p: ReconcileProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const done = p.total !== undefined && p.done >= p.total;
    if (!io.isTTY) {
      if (now - last < 1000 && !done) return;
      last = now;
      io.stderr(
        `${p.phase}${p.sink === undefined ? "" : ` ${p.sink}`}: ${p.done}${p.total === undefined ? "" : ` of ${p.total}`}\n`,
      );
      return;
    }
    const share = p.total === undefined || p.total === 0 ? 0 : Math.min(1, p.done / p.total);
    const width = 30;
    const filled = Math.round(share * width);
    io.stderr(
      `\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${p.phase}${p.sink === undefined ? "" : ` ${p.sink}`}${done ? "\n" : ""}`,
    );
  };
}

async function output(values: Values, text: string, io: Io): Promise<void> {
  const out = values.out as string | undefined;
  if (out === undefined) io.stdout(text.endsWith("\n") ? text : `${text}\n`);
  else await writeFile(out, text);
}

async function reconcileCommand(
  values: Values,
  ledger: Ledger,
  sinks: readonly ReconcileSink[],
  io: Io,
): Promise<number> {
  const format = formatOf(values);
  const report = await reconcile({
    ledger,
    sinks,
    onProgress: progress(io),
    ...(values.incremental === true ? { incremental: true } : {}),
    ...(values.history === true ? { history: true } : {}),
  });
  await output(values, renderReport(report, { format }), io);
  return report.consistent ? OK : FINDINGS;
}

async function repairCommand(
  values: Values,
  ledger: Ledger,
  sinks: readonly ReconcileSink[],
  io: Io,
): Promise<number> {
  const dryRun = values["dry-run"] === true;
  const yes = values.yes === true;
  if (dryRun === yes) throw new UsageError("give --dry-run (plan only) or --yes (run it)");
  const actor = values.actor as string | undefined;
  const reason = values.reason as string | undefined;
  if (yes && (actor === undefined || actor === "" || reason === undefined || reason === ""))
    throw new UsageError("--yes needs --actor NAME and --reason TEXT, for the audit log");
  const format = formatOf(values);
  const report: ReconcileReport = await reconcile({ ledger, sinks, onProgress: progress(io) });
  const result: RepairResult = await repair(report, {
    ledger,
    sinks,
    dryRun,
    ...(actor === undefined ? {} : { actor }),
    ...(reason === undefined ? {} : { reason }),
  });
  await output(values, renderReport(report, { format, repair: result }), io);
  // 0 only for a state proven whole: dry, nothing to repair (every sink read and
  // consistent); for real, every action verified, nothing left past the findings listed.
  if (dryRun) return report.consistent ? OK : FINDINGS;
  const whole = result.converged && !result.remaining && result.verification?.consistent !== false;
  return whole ? OK : FINDINGS;
}

async function auditCommand(
  positionals: readonly string[],
  ledger: Ledger,
  io: Io,
): Promise<number> {
  if (positionals[0] !== "verify" || positionals.length !== 1)
    throw new UsageError(`audit takes one subcommand: verify`);
  const verification = await ledger.verifyAudit();
  io.stdout(`${JSON.stringify(verification, null, 2)}\n`);
  return verification.ok ? OK : FINDINGS;
}

async function ledgerCommand(
  values: Values,
  positionals: readonly string[],
  ledger: Ledger,
  sinks: readonly ReconcileSink[],
  io: Io,
): Promise<number> {
  const [sub, ...args] = positionals;
  if (sub === "stats" && args.length === 0) {
    const head = await ledger.head();
    const perSink: Record<string, unknown> = {};
    for (const sink of sinks) {
      const checkpoint =
        typeof ledger.getCheckpoint === "function"
          ? await ledger.getCheckpoint(sink.name).catch(() => undefined)
          : undefined;
      perSink[sink.name] = { watermark: await ledger.getWatermark(sink.name), checkpoint };
    }
    io.stdout(
      `${JSON.stringify({ head, capabilities: ledger.capabilities, sinks: perSink }, null, 2)}\n`,
    );
    return OK;
  }
  if (sub === "get" && args.length === 1) {
    const entry = await ledger.get(args[0] as string);
    if (entry === undefined) {
      io.stderr(`sinkproof ledger: no entry has the key ${JSON.stringify(args[0])}\n`);
      return FINDINGS;
    }
    io.stdout(`${JSON.stringify(entry, null, 2)}\n`);
    return OK;
  }
  if (sub === "tail" && args.length === 0) {
    const n = values.n === undefined ? 10 : Number(values.n);
    if (!Number.isSafeInteger(n) || n < 1 || n > 100_000)
      throw new UsageError(
        `--n must be an integer from 1 to 100000, got ${JSON.stringify(values.n)}`,
      );
    const head = await ledger.head();
    for await (const entry of ledger.scan({ from: Math.max(1, head - n + 1), to: head }))
      io.stdout(`${JSON.stringify(entry)}\n`);
    return OK;
  }
  throw new UsageError("ledger takes stats, get KEY or tail");
}

function msOption(values: Values, key: string, fallback: number): number {
  const given = values[key];
  if (given === undefined) return fallback;
  const ms = Number(given);
  if (!Number.isSafeInteger(ms) || ms < 1)
    throw new UsageError(`--${key} must be a positive integer of ms, got ${JSON.stringify(given)}`);
  return ms;
}

async function monitorCommand(
  values: Values,
  ledger: Ledger,
  sinks: readonly ReconcileSink[],
  io: Io,
): Promise<number> {
  const monitor = createMonitor({
    ledger,
    sinks,
    everyMs: msOption(values, "every-ms", 60_000),
    fullSweepEveryMs: msOption(values, "sweep-every-ms", 86_400_000),
    onAlert: (alert) => io.stdout(`${JSON.stringify(alert)}\n`),
    onPass: (pass) =>
      io.stderr(
        `${JSON.stringify({ pass: pass.kind, startedAt: pass.startedAt, consistent: pass.report?.consistent, error: pass.error })}\n`,
      ),
  });
  await new Promise<void>((resolve) => {
    // The monitor's timer does not keep the process alive: this does, until a signal.
    const keep = setInterval(() => undefined, 1 << 30);
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      clearInterval(keep);
      void monitor.stop().then(resolve, resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    try {
      monitor.start();
    } catch (error) {
      clearInterval(keep);
      throw error;
    }
  });
  return OK;
}

export { describeError };
