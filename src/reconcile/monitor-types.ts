/**
 * The types of {@link createMonitor}: its options, passes, alerts and status.
 *
 * @module
 */

import type { Ledger } from "../ledger/types.js";
import type { Metrics } from "../observe/metrics.js";
import type { BaselineMetric, BaselineState } from "./monitor-baseline.js";
import type {
  ConsistencyWindow,
  FindingCounts,
  FreezePolicy,
  HistoryOptions,
  ReconcileReport,
  ReconcileSink,
} from "./types.js";

export type { BaselineMetric, BaselineState } from "./monitor-baseline.js";

/** How a monitor learns what is usual for each sink, and when it calls a value unusual. */
export interface BaselineOptions {
  /**
   * The weight of each new pass in the moving mean and variance, from 0 (exclusive) to 1.
   * @default 0.2
   */
  readonly alpha?: number | undefined;
  /**
   * How many standard deviations above its mean a value must be to raise an `anomaly`.
   * @default 3
   */
  readonly sigmas?: number | undefined;
  /**
   * Passes a sink's baseline learns from before it can raise an alert.
   * @default 10
   */
  readonly warmup?: number | undefined;
}

/** Options of {@link createMonitor}. */
export interface MonitorOptions {
  /** The ledger; incremental passes need one that keeps checkpoints (every built-in one does). */
  readonly ledger: Ledger;
  /** The sinks, as `reconcile` takes them. */
  readonly sinks: readonly ReconcileSink[];
  /**
   * Time from the end of one pass to the start of the next, ms (at least 1).
   * @default 60_000
   */
  readonly everyMs?: number | undefined;
  /**
   * A full sweep (`incremental: "sweep"`: every entry, for drift in old data) instead of
   * an incremental pass once the least recently swept sink was swept this long ago, ms
   * (the time of each sink's last sweep is kept in its checkpoint, so it survives a
   * restart). `false`: never sweep.
   * @default 86_400_000 (a day)
   */
  readonly fullSweepEveryMs?: number | false | undefined;
  /**
   * Called with each alert, in order; awaited before the next one. A callback that throws
   * or rejects is counted (`sinkproof.monitor.alert_failures`), does not stop the monitor,
   * and does not count as delivered: the next pass sends the alert again while its
   * condition lasts. It may call `stop()`, not `runOnce()`.
   */
  readonly onAlert?: ((alert: MonitorAlert) => void | Promise<void>) | undefined;
  /** Called after each pass (a throwing callback is counted and ignored, as for `onAlert`). */
  readonly onPass?: ((pass: MonitorPass) => void | Promise<void>) | undefined;
  /** Where the monitor's metrics go (see the docs for their names). */
  readonly metrics?: Metrics | undefined;
  /**
   * The current time in ms since the epoch, for lateness, sweeps and alerts.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * The age past which a sink's oldest late entry raises a `lag` alert, ms. Below it the lag is acceptable latency; past a sink's lag tolerance an entry is
   * lost (a `loss` alert).
   * @default half of each sink's `lagToleranceMs`
   */
  readonly lagAlertMs?: number | undefined;
  /** Learned baselines (`anomaly` alerts); `false`: none. */
  readonly baseline?: BaselineOptions | false | undefined;
  /** Passed to each `reconcile`: sinks read at once. */
  readonly concurrency?: number | undefined;
  /** Passed to each `reconcile`: findings listed per sink. */
  readonly maxFindings?: number | undefined;
  /** Passed to each `reconcile`: freeze a sink whose findings cross these thresholds. */
  readonly freezeOn?: FreezePolicy | undefined;
  /**
   * Who reconciles, for the audit record of a freeze.
   * @default "sinkproof.monitor"
   */
  readonly actor?: string | undefined;
  /**
   * Passed to each `reconcile`: each pass keeps every sink's consistency window in the
   * ledger's history, and each report carries the sinks' recent history (drawn by the
   * HTML report). By default on when the ledger keeps history (sinkproof's four do) and
   * off, silently, when it does not; given explicitly, a ledger without it fails the pass.
   * @default true (when the ledger keeps history)
   */
  readonly history?: boolean | HistoryOptions | undefined;
}

/** What an alert is about. */
export type MonitorAlertKind =
  /** Entries missing past the sink's lag tolerance (`missing-lost`): data loss. */
  | "loss"
  /** Entries the sink holds altered, twice, or never emitted (`mismatched`, `duplicate`, `unexpected`). */
  | "drift"
  /** Late entries (not lost yet), the oldest older than `lagAlertMs`: latency, not loss. */
  | "lag"
  /** The sink could not be read (its report has an `error`). */
  | "unreadable"
  /** A learned baseline says a value is unusual for this sink (`metric`, `value`, `baseline`). */
  | "anomaly"
  /** The pass itself failed (the ledger could not be read): `error`. */
  | "failed"
  /** What an earlier alert reported is over (`cleared` lists which kinds). */
  | "recovered";

/** What a failed pass or an unreadable sink threw, as `{ code, message }`. */
export interface MonitorError {
  /** The error's `code` (a sinkproof code, or a driver's such as `ECONNREFUSED`). */
  readonly code: string;
  /** Its message. */
  readonly message: string;
}

/** One alert. Each condition alerts once when it starts, and once (`recovered`) when it ends. */
export interface MonitorAlert {
  /** What it is about. */
  readonly kind: MonitorAlertKind;
  /** `critical` for loss, drift, unreadable and failed; `warning` for lag and anomaly; `info` for recovered. */
  readonly severity: "critical" | "warning" | "info";
  /** The sink, or undefined for a pass that failed (and its recovery). */
  readonly sink: string | undefined;
  /** When the pass that raised it started (ISO 8601). */
  readonly at: string;
  /** One line for a person. */
  readonly message: string;
  /** The sink's counts in that pass. */
  readonly counts?: FindingCounts | undefined;
  /** The sink's consistency window in that pass. */
  readonly window?: ConsistencyWindow | undefined;
  /** For `anomaly`: the metric. */
  readonly metric?: BaselineMetric | undefined;
  /** For `anomaly`: the metric's value in this pass. */
  readonly value?: number | undefined;
  /** For `anomaly`: what the baseline had learned before this pass. */
  readonly baseline?: BaselineState | undefined;
  /** For `failed` and `unreadable`: what was thrown. */
  readonly error?: MonitorError | undefined;
  /** For `recovered`: the kinds that ended. */
  readonly cleared?: readonly MonitorAlertKind[] | undefined;
}

/** One pass of a monitor. */
export interface MonitorPass {
  /** `incremental`, `sweep`, or `full` (a ledger that keeps no checkpoints: every pass is whole). */
  readonly kind: "incremental" | "sweep" | "full";
  /** When it started (ISO 8601). */
  readonly startedAt: string;
  /** The report; undefined when the pass failed. */
  readonly report?: ReconcileReport | undefined;
  /** What the failed pass threw. */
  readonly error?: MonitorError | undefined;
  /** The alerts it raised, in the order they were sent. */
  readonly alerts: readonly MonitorAlert[];
}

/** What a monitor knows of one sink. */
export interface MonitorSinkStatus {
  /** Whether its last pass found it consistent (undefined before any). */
  readonly consistent: boolean | undefined;
  /** When a pass last found it consistent (ISO 8601). */
  readonly lastConsistentAt: string | undefined;
  /** The conditions alerted and not yet over. */
  readonly active: readonly MonitorAlertKind[];
  /** Its learned baselines. */
  readonly baselines: Readonly<Record<BaselineMetric, BaselineState>>;
}

/** A snapshot of a monitor. */
export interface MonitorStatus {
  /** Between `start()` and `stop()`. */
  readonly started: boolean;
  /** A pass is running. */
  readonly running: boolean;
  /** Passes run, failed ones included. */
  readonly passes: number;
  /** Passes that failed. */
  readonly failures: number;
  /** The last pass. */
  readonly last: MonitorPass | undefined;
  /** Per sink. */
  readonly sinks: Readonly<Record<string, MonitorSinkStatus>>;
}

/** A running reconciliation schedule. */
export interface Monitor {
  /**
   * Starts the schedule: a pass at once, then one `everyMs` after each pass ends (so two
   * never overlap). The timer does not keep the process alive. Starting twice is a no-op.
   */
  start(): void;
  /** Stops the schedule and waits for a running pass to end. */
  stop(): Promise<void>;
  /**
   * Runs one pass now, after any pass running (never two at once), and resolves with it;
   * `{ sweep: true }` makes it a full sweep. Works whether or not the monitor is started.
   */
  runOnce(options?: { readonly sweep?: boolean | undefined }): Promise<MonitorPass>;
  /** What the monitor knows now. */
  status(): MonitorStatus;
}
