/**
 * `createMonitor`: reconciliation on a schedule. Incremental passes every `everyMs`, a full
 * sweep when the least recently swept sink is due, never two passes at once; metrics per
 * sink; alerts that tell latency (`lag`) from loss (`loss`) and drift, learned baselines
 * (`anomaly`), and a `recovered` alert when a condition ends.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { performance } from "node:perf_hooks";
import { InvalidArgumentError } from "../errors.js";
import { errorSummary, invalidArgument, show } from "../internal/arguments.js";
import { checkInteger, optionalFunction } from "../internal/checks.js";
import { optionKeys, readOptions } from "../internal/options.js";
import type { Ledger } from "../ledger/types.js";
import { logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import {
  BASELINE_METRICS,
  type BaselineMetric,
  type BaselineState,
  Ewma,
  isAnomalous,
} from "./monitor-baseline.js";
import type {
  BaselineOptions,
  Monitor,
  MonitorAlert,
  MonitorAlertKind,
  MonitorOptions,
  MonitorPass,
  MonitorSinkStatus,
  MonitorStatus,
} from "./monitor-types.js";
import { resolveOptions as checkReconcileOptions, reconcile } from "./reconcile.js";
import { checkLedger, checkSinks } from "./sinks.js";
import type { FindingCounts, ReconcileOptions, ReconcileReport, SinkReport } from "./types.js";

const log = logger("monitor");

const MONITOR_KEYS = optionKeys<MonitorOptions>()(
  "ledger",
  "sinks",
  "everyMs",
  "fullSweepEveryMs",
  "onAlert",
  "onPass",
  "metrics",
  "clock",
  "lagAlertMs",
  "baseline",
  "concurrency",
  "maxFindings",
  "freezeOn",
  "actor",
  "history",
);
const BASELINE_KEYS = optionKeys<BaselineOptions>()("alpha", "sigmas", "warmup");
const RUN_KEYS = optionKeys<{ sweep?: boolean | undefined }>()("sweep");

/** The longest wait `setTimeout` keeps (about 24.8 days), ms. */
const MAX_DELAY_MS = 2_147_483_647;
const DAY_MS = 86_400_000;
/** The largest time a `Date` can hold, in ms. */
const MAX_TIME_MS = 8.64e15;

/** The kinds a sink's pass can put in force, in the order they are alerted. */
const CONDITIONS = ["unreadable", "loss", "drift", "lag"] as const;
type Condition = (typeof CONDITIONS)[number];

const SEVERITY: Readonly<Record<MonitorAlertKind, MonitorAlert["severity"]>> = {
  loss: "critical",
  drift: "critical",
  unreadable: "critical",
  failed: "critical",
  lag: "warning",
  anomaly: "warning",
  recovered: "info",
};

/** Baseline options, checked. */
interface Baseline {
  readonly alpha: number;
  readonly sigmas: number;
  readonly warmup: number;
}

interface Resolved {
  readonly ledger: Ledger;
  readonly reconcileOptions: ReconcileOptions;
  readonly names: readonly string[];
  readonly everyMs: number;
  readonly sweepEveryMs: number | false;
  readonly onAlert: MonitorOptions["onAlert"];
  readonly onPass: MonitorOptions["onPass"];
  readonly metrics: Metrics;
  readonly clock: () => number;
  readonly lagAlertMs: number | undefined;
  readonly baseline: Baseline | undefined;
  /** The `history` option as given, or `auto` (on when the ledger keeps history). */
  readonly history: ReconcileOptions["history"] | "auto";
}

function checkMs(value: unknown, where: string, min: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > MAX_DELAY_MS)
    invalidArgument(
      where,
      `must be a number of ms from ${min} to ${MAX_DELAY_MS}, got ${show(value)}`,
    );
  return value;
}

function resolveBaseline(value: unknown): Baseline | undefined {
  if (value === false) return undefined;
  const options = readOptions<BaselineOptions>(value, "options.baseline", BASELINE_KEYS);
  const alpha = options.alpha === undefined ? 0.2 : options.alpha;
  if (typeof alpha !== "number" || !(alpha > 0 && alpha <= 1))
    invalidArgument(
      "options.baseline.alpha",
      `must be a number above 0 and at most 1, got ${show(alpha)}`,
    );
  const sigmas = options.sigmas === undefined ? 3 : options.sigmas;
  if (typeof sigmas !== "number" || !Number.isFinite(sigmas) || sigmas <= 0)
    invalidArgument("options.baseline.sigmas", `must be a positive number, got ${show(sigmas)}`);
  const warmup =
    options.warmup === undefined
      ? 10
      : checkInteger(options.warmup, "options.baseline.warmup", 1, 1_000_000);
  return { alpha, sigmas, warmup };
}

function resolveOptions(given: MonitorOptions): Resolved {
  const options = readOptions<MonitorOptions>(given, "options", MONITOR_KEYS, { required: true });
  const ledger = checkLedger(options.ledger);
  const sinks = checkSinks(options.sinks, "options.sinks");
  const everyMs =
    options.everyMs === undefined ? 60_000 : checkMs(options.everyMs, "options.everyMs", 1);
  const sweepEveryMs =
    options.fullSweepEveryMs === false
      ? false
      : options.fullSweepEveryMs === undefined
        ? DAY_MS
        : checkMs(options.fullSweepEveryMs, "options.fullSweepEveryMs", 1);
  const lagAlertMs =
    options.lagAlertMs === undefined
      ? undefined
      : checkMs(options.lagAlertMs, "options.lagAlertMs", 0);
  const clock = optionalFunction(options.clock, "options.clock") ?? Date.now;
  const actor = options.actor === undefined ? "sinkproof.monitor" : options.actor;
  if (typeof actor !== "string" || actor.length === 0)
    invalidArgument("options.actor", `must be a non-empty string, got ${show(actor)}`);
  const reconcileOptions: ReconcileOptions = {
    ledger,
    sinks,
    clock,
    actor,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.maxFindings === undefined ? {} : { maxFindings: options.maxFindings }),
    ...(options.freezeOn === undefined ? {} : { freezeOn: options.freezeOn }),
  };
  // Checked now as each pass will check them, so that a typo fails here, not every minute.
  checkReconcileOptions(reconcileOptions);
  // Given, it is checked as reconcile checks it ("auto", the default's name, included).
  const history = options.history === undefined ? "auto" : options.history;
  if (options.history !== undefined && options.history !== false)
    checkReconcileOptions({ ...reconcileOptions, history: options.history });
  return {
    ledger,
    reconcileOptions,
    names: sinks.map((s) => s.name),
    everyMs,
    sweepEveryMs,
    onAlert: optionalFunction(options.onAlert, "options.onAlert"),
    onPass: optionalFunction(options.onPass, "options.onPass"),
    metrics: safeMetrics(checkMetrics(options.metrics, "options.metrics")),
    clock,
    lagAlertMs,
    baseline: resolveBaseline(options.baseline),
    history,
  };
}

/** What the monitor remembers of one sink. */
class SinkState {
  consistent: boolean | undefined;
  lastConsistentAt: number | undefined;
  readonly active = new Set<MonitorAlertKind>();
  readonly anomalies = new Set<BaselineMetric>();
  readonly baselines: Record<BaselineMetric, Ewma>;

  constructor(alpha: number) {
    this.baselines = Object.fromEntries(
      BASELINE_METRICS.map((m) => [m, new Ewma(alpha)]),
    ) as Record<BaselineMetric, Ewma>;
  }

  status(): MonitorSinkStatus {
    return {
      consistent: this.consistent,
      lastConsistentAt:
        this.lastConsistentAt === undefined
          ? undefined
          : new Date(this.lastConsistentAt).toISOString(),
      active: [...this.active],
      baselines: Object.fromEntries(
        BASELINE_METRICS.map((m) => [m, this.baselines[m].state()]),
      ) as Record<BaselineMetric, BaselineState>,
    };
  }
}

/**
 * The time from the caller's clock: ms since the epoch, else an `InvalidArgumentError` at
 * `where()`. A clock that throws has its own error passed on.
 */
function checkedTime(clock: () => number, where: string): number {
  const value: unknown = clock();
  if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > MAX_TIME_MS)
    invalidArgument(`${where}()`, `must return ms since the epoch, got ${show(value)}`);
  return value;
}

/** Entries the sink's pass judged: every finding but `unexpected` is one ledger entry. */
function judged(counts: FindingCounts): number {
  return (
    counts.matched +
    counts["missing-late"] +
    counts["missing-lost"] +
    counts.mismatched +
    counts.duplicate
  );
}

function describeCounts(counts: FindingCounts, kinds: readonly (keyof FindingCounts)[]): string {
  return kinds
    .filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${k}`)
    .join(", ");
}

const entries = (n: number): string => (n === 1 ? "1 entry" : `${n} entries`);

/** Which conditions a sink's report puts in force. */
function conditionsOf(report: SinkReport, lagAlertMs: number | undefined): Set<Condition> {
  const found = new Set<Condition>();
  if (report.error !== undefined) {
    found.add("unreadable");
    return found;
  }
  const c = report.counts;
  if (c["missing-lost"] > 0) found.add("loss");
  if (c.mismatched + c.duplicate + c.unexpected > 0) found.add("drift");
  const threshold = lagAlertMs ?? report.lagToleranceMs / 2;
  if (c["missing-late"] > 0 && oldestLateMs(report) > threshold) found.add("lag");
  return found;
}

/**
 * The age of the sink's oldest late entry: the first listed (findings are in position
 * order, so in append order); the window's age when the list was cut before any.
 */
function oldestLateMs(report: SinkReport): number {
  for (const finding of report.findings) {
    if (finding.kind === "missing-late") return finding.ageMs;
  }
  return report.window.behindMs;
}

function messageOf(kind: Condition, report: SinkReport, lagAlertMs: number | undefined): string {
  const name = report.name;
  switch (kind) {
    case "unreadable":
      return `${name} could not be read: ${report.error?.message ?? "unknown error"}`;
    case "loss":
      return `${name} is missing ${entries(report.counts["missing-lost"])} past its lag tolerance (${report.lagToleranceMs} ms): data loss`;
    case "drift":
      return `${name} differs from the ledger: ${describeCounts(report.counts, ["mismatched", "duplicate", "unexpected"])}`;
    case "lag":
      return `${name} has ${entries(report.counts["missing-late"])} not there yet, the oldest ${oldestLateMs(report)} ms old (alert past ${lagAlertMs ?? report.lagToleranceMs / 2} ms, lost past ${report.lagToleranceMs} ms)`;
  }
}

/**
 * Creates a monitor: reconciliation on a schedule, with metrics and alerts.
 *
 * Each pass is an incremental `reconcile` (each sink from its checkpoint), or a full sweep
 * when the least recently swept sink's last sweep is `fullSweepEveryMs` old; on a ledger
 * that keeps no checkpoints every pass is a full one. After each pass, per sink:
 *
 * - alerts, each once when its condition starts and a `recovered` one when it ends:
 *   `loss` (entries missing past the lag tolerance), `drift` (mismatched, duplicate or
 *   unexpected), `lag` (late entries, the oldest older than `lagAlertMs`: latency, not
 *   loss), `unreadable`, and `anomaly` (a learned baseline of the sink's lag, finding rate
 *   or duplicate rate exceeded by more than `sigmas` deviations, after `warmup` passes);
 *   a pass that throws raises `failed`;
 * - metrics: `sinkproof.monitor.passes` (counter; `kind`, `outcome`),
 *   `sinkproof.monitor.pass_ms` (histogram; `kind`), and per `sink`:
 *   `sinkproof.monitor.consistent` (gauge, 1 or 0), `sinkproof.monitor.findings` (gauge;
 *   `kind`), `sinkproof.monitor.lag_ms` and `sinkproof.monitor.behind_entries` (the
 *   consistency window), `sinkproof.monitor.data_age_ms` (since a pass last found the sink
 *   consistent), `sinkproof.monitor.alerts` (counter; `kind`).
 *
 * Throws `InvalidArgumentError` for malformed options (unknown keys included), at once.
 *
 * @example
 * ```ts
 * import { createMonitor } from "sinkproof";
 * const monitor = createMonitor({
 *   ledger,
 *   sinks,
 *   everyMs: 60_000,
 *   fullSweepEveryMs: 86_400_000,
 *   onAlert: (alert) => console.log(alert.severity, alert.message),
 * });
 * monitor.start();
 * // … on shutdown:
 * await monitor.stop();
 * ```
 */
export function createMonitor(options: MonitorOptions): Monitor {
  const config = resolveOptions(options);
  const { ledger, metrics, clock } = config;
  const alpha = config.baseline?.alpha ?? 0.2;
  const sinks = new Map(config.names.map((name) => [name, new SinkState(alpha)]));
  /** Marks the monitor's own callbacks (`onAlert`, `onPass`), whatever they await. */
  const callbacks = new AsyncLocalStorage<object>();
  const token = {};
  const insideCallback = <T>(call: () => T): T => callbacks.run(token, call);
  const createdAt = checkedTime(clock, "options.clock");
  let started = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let running = false;
  let passes = 0;
  let failures = 0;
  let failing = false;
  let last: MonitorPass | undefined;
  let checkpoints = true;
  /** Whether passes keep window history: undefined until the first pass asks the ledger. */
  let keepsHistory: boolean | undefined = config.history === false ? false : undefined;
  /** When this monitor last ran a sweep. */
  let lastSweep: number | undefined;

  /**
   * Sends one alert; false when `onAlert` failed (the condition is then not marked as
   * alerted, so the next pass sends it again).
   */
  async function send(alerts: MonitorAlert[], alert: MonitorAlert): Promise<boolean> {
    alerts.push(alert);
    metrics.counter("sinkproof.monitor.alerts", 1, { sink: alert.sink ?? "", kind: alert.kind });
    log("%s alert (%s): %s", alert.kind, alert.severity, alert.message);
    if (config.onAlert === undefined) return true;
    const onAlert = config.onAlert;
    try {
      await insideCallback(() => onAlert(alert));
      return true;
    } catch (error) {
      metrics.counter("sinkproof.monitor.alert_failures", 1, { kind: alert.kind });
      log("onAlert threw: %s", errorSummary(error, "alert_failed").message);
      return false;
    }
  }

  /** Whether the least recently swept sink is due for a sweep. */
  async function sweepDue(now: number): Promise<boolean> {
    if (config.sweepEveryMs === false || !checkpoints) return false;
    let oldest = Number.POSITIVE_INFINITY;
    for (const name of config.names) {
      const checkpoint = await ledger.getCheckpoint(name);
      const swept = checkpoint?.sweptAt === undefined ? createdAt : Date.parse(checkpoint.sweptAt);
      oldest = Math.min(oldest, swept);
    }
    // A sink that could not be swept keeps its old sweptAt: not a sweep every pass for it.
    if (lastSweep !== undefined) oldest = Math.max(oldest, lastSweep);
    return now - oldest >= config.sweepEveryMs;
  }

  async function judgeSink(report: SinkReport, at: string, now: number, alerts: MonitorAlert[]) {
    const state = sinks.get(report.name) as SinkState;
    const labels = { sink: report.name };
    state.consistent = report.consistent;
    if (report.consistent && report.error === undefined) state.lastConsistentAt = now;
    metrics.gauge("sinkproof.monitor.consistent", report.consistent ? 1 : 0, labels);
    const lagMs = report.counts["missing-late"] > 0 ? oldestLateMs(report) : 0;
    metrics.gauge("sinkproof.monitor.lag_ms", lagMs, labels);
    metrics.gauge("sinkproof.monitor.behind_entries", report.window.behindEntries, labels);
    metrics.gauge(
      "sinkproof.monitor.data_age_ms",
      now - (state.lastConsistentAt ?? createdAt),
      labels,
    );
    for (const kind of [
      "missing-late",
      "missing-lost",
      "mismatched",
      "duplicate",
      "unexpected",
    ] as const)
      metrics.gauge("sinkproof.monitor.findings", report.counts[kind], { sink: report.name, kind });

    const found = conditionsOf(report, config.lagAlertMs);
    const base = { sink: report.name, at, counts: report.counts, window: report.window };
    for (const kind of CONDITIONS) {
      if (!found.has(kind) || state.active.has(kind)) continue;
      const sent = await send(alerts, {
        kind,
        severity: SEVERITY[kind],
        message: messageOf(kind, report, config.lagAlertMs),
        ...base,
        ...(kind === "unreadable" && report.error !== undefined
          ? { error: { code: report.error.code, message: report.error.message } }
          : {}),
      });
      if (sent) state.active.add(kind);
    }
    // Baselines learn from passes that could read the sink.
    const cleared: MonitorAlertKind[] = [];
    if (report.error === undefined && config.baseline !== undefined) {
      const { sigmas, warmup } = config.baseline;
      const entries = Math.max(1, judged(report.counts));
      const c = report.counts;
      const values: Record<BaselineMetric, number> = {
        lagMs,
        findingRate: (c["missing-lost"] + c.mismatched + c.duplicate + c.unexpected) / entries,
        duplicateRate: c.duplicate / entries,
      };
      let anomalous = false;
      for (const metric of BASELINE_METRICS) {
        const ewma = state.baselines[metric];
        const before = ewma.state();
        const value = values[metric];
        if (isAnomalous(before, value, metric, sigmas, warmup)) {
          anomalous = true;
          if (!state.anomalies.has(metric)) {
            const sent = await send(alerts, {
              kind: "anomaly",
              severity: SEVERITY.anomaly,
              message: `${report.name}: ${metric} is ${show(value)}, usually ${show(before.mean)} ± ${show(before.sigma)} (${before.samples} passes)`,
              metric,
              value,
              baseline: before,
              ...base,
            });
            if (sent) {
              state.anomalies.add(metric);
              state.active.add("anomaly");
            }
          }
        } else state.anomalies.delete(metric);
        ewma.add(value);
      }
      if (!anomalous && state.active.delete("anomaly")) cleared.push("anomaly");
    }
    for (const kind of CONDITIONS) {
      // An unreadable sink says nothing of the rest: those conditions stay in force.
      if (report.error !== undefined && kind !== "unreadable") continue;
      if (state.active.has(kind) && !found.has(kind)) {
        state.active.delete(kind);
        cleared.push(kind);
      }
    }
    if (cleared.length > 0) {
      const sent = await send(alerts, {
        kind: "recovered",
        severity: SEVERITY.recovered,
        message: `${report.name}: ${cleared.join(", ")} over`,
        cleared,
        ...base,
      });
      // Not delivered: still in force as far as the receiver knows, so sent again next pass.
      if (!sent) for (const kind of cleared) state.active.add(kind);
    }
  }

  async function onePass(sweep: boolean): Promise<MonitorPass> {
    running = true;
    try {
      return await passAt(sweep);
    } finally {
      running = false;
    }
  }

  const readClock = (): number => checkedTime(clock, "options.clock");

  /**
   * Whether passes keep window history. Asked for explicitly, yes (a ledger that cannot
   * keep it sets each report's `historyError`). By default, asked of the ledger once: one
   * without it (`unsupported`, or no such methods) turns history off.
   */
  async function probeHistory(): Promise<boolean> {
    if (config.history !== "auto") return true;
    const ledger = config.ledger;
    if (typeof ledger.windowHistory !== "function" || typeof ledger.recordWindows !== "function")
      return false;
    try {
      await ledger.windowHistory(config.names[0] ?? "sinkproof", { limit: 1 });
      return true;
    } catch (caught) {
      // Any other failure (a damaged sample, a ledger down): history stays on, and the
      // pass reports it in `historyError` without losing its findings.
      if (errorSummary(caught, "").code !== "unsupported") return true;
      log("the ledger keeps no window history: passes record none");
      return false;
    }
  }

  async function passAt(sweep: boolean): Promise<MonitorPass> {
    const alerts: MonitorAlert[] = [];
    let kind: MonitorPass["kind"] = checkpoints ? "incremental" : "full";
    let report: ReconcileReport | undefined;
    let error: { code: string; message: string } | undefined;
    const startedMs = performance.now();
    let now = Number.NaN;
    try {
      now = readClock();
    } catch (caught) {
      error = errorSummary(caught, "clock_failed");
    }
    // A clock that failed: the alert still needs a time.
    const at = new Date(Number.isFinite(now) ? now : Date.now()).toISOString();
    if (error === undefined)
      try {
        keepsHistory ??= await probeHistory();
        const run = async (): Promise<ReconcileReport> => {
          kind = !checkpoints ? "full" : sweep || (await sweepDue(now)) ? "sweep" : "incremental";
          if (kind === "sweep") lastSweep = now;
          return reconcile({
            ...config.reconcileOptions,
            ...(keepsHistory ? { history: config.history === "auto" ? true : config.history } : {}),
            ...(kind === "full"
              ? {}
              : { incremental: kind === "sweep" ? ("sweep" as const) : true }),
          });
        };
        try {
          report = await run();
        } catch (caught) {
          // A ledger that keeps no checkpoints: whole passes from now on.
          if (!checkpoints || errorSummary(caught, "").code !== "unsupported") throw caught;
          checkpoints = false;
          log("the ledger keeps no checkpoints: every pass is a full one");
          report = await run();
        }
      } catch (caught) {
        error = errorSummary(caught, "monitor_pass_failed");
      }
    if (report?.historyError !== undefined) {
      metrics.counter("sinkproof.monitor.history_failures", 1, { code: report.historyError.code });
      log("the window history of this pass was not kept: %s", report.historyError.message);
    }
    const outcome =
      error !== undefined ? "failed" : report?.consistent ? "consistent" : "inconsistent";
    passes++;
    metrics.counter("sinkproof.monitor.passes", 1, { kind, outcome });
    metrics.histogram("sinkproof.monitor.pass_ms", performance.now() - startedMs, { kind });
    if (error !== undefined) {
      failures++;
      if (!failing) {
        failing = await send(alerts, {
          kind: "failed",
          severity: SEVERITY.failed,
          sink: undefined,
          at,
          message: `a ${kind} reconciliation pass failed: ${error.message}`,
          error,
        });
      }
    } else {
      if (failing) {
        failing = !(await send(alerts, {
          kind: "recovered",
          severity: SEVERITY.recovered,
          sink: undefined,
          at,
          message: "reconciliation passes run again",
          cleared: ["failed"],
        }));
      }
      for (const sink of (report as ReconcileReport).sinks) await judgeSink(sink, at, now, alerts);
    }
    const pass: MonitorPass = {
      kind,
      startedAt: at,
      ...(report === undefined ? {} : { report }),
      ...(error === undefined ? {} : { error }),
      alerts,
    };
    last = pass;
    if (config.onPass !== undefined) {
      const onPass = config.onPass;
      try {
        await insideCallback(() => onPass(pass));
      } catch (caught) {
        metrics.counter("sinkproof.monitor.pass_callback_failures", 1);
        log("onPass threw: %s", errorSummary(caught, "callback_failed").message);
      }
    }
    return pass;
  }

  function enqueue(sweep: boolean): Promise<MonitorPass> {
    const next = queue.then(() => onePass(sweep));
    queue = next.catch(() => undefined);
    return next;
  }

  /** Bumped by each start and stop: a pass of an earlier schedule schedules nothing. */
  let generation = 0;

  function schedule(delay: number, of: number): void {
    if (!started || of !== generation) return;
    timer = setTimeout(() => {
      timer = undefined;
      const next = () => schedule(config.everyMs, of);
      enqueue(false).then(next, next);
    }, delay);
    timer.unref?.();
  }

  return {
    start() {
      if (started) return;
      started = true;
      schedule(0, ++generation);
    },
    async stop() {
      started = false;
      generation++;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      // From the monitor's own onAlert or onPass, the running pass is the caller: it ends
      // when the callback returns, and waiting for it here would wait forever.
      if (callbacks.getStore() === token) return;
      await queue;
    },
    async runOnce(runOptions) {
      const read = readOptions<{ sweep?: boolean | undefined }>(runOptions, "options", RUN_KEYS);
      if (read.sweep !== undefined && typeof read.sweep !== "boolean")
        invalidArgument("options.sweep", `must be a boolean, got ${show(read.sweep)}`);
      if (callbacks.getStore() === token) {
        throw new InvalidArgumentError(
          "invalid_argument",
          "monitor.runOnce() was called from the monitor's own onAlert or onPass: the pass that calls it runs until the callback returns, so the new one could never start; schedule it instead (setImmediate)",
          { path: "runOnce" },
        );
      }
      return enqueue(read.sweep === true);
    },
    status(): MonitorStatus {
      return {
        started,
        running,
        passes,
        failures,
        last,
        sinks: Object.fromEntries([...sinks].map(([name, state]) => [name, state.status()])),
      };
    },
  };
}
