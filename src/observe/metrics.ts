/**
 * Metrics: a three-method interface the delivery layer reports to, a no-op default, and
 * an in-memory recorder for tests. `sinkproof/otel` bridges it to OpenTelemetry meters.
 *
 * Names emitted (labels: `sink`, and `producer` where it applies):
 * - counters: `sinkproof.delivered`, `sinkproof.duplicates`, `sinkproof.conflicts`,
 *   `sinkproof.rejected`, `sinkproof.failed`, `sinkproof.retries`, `sinkproof.replayed`,
 *   `sinkproof.refused` (frozen sink), `sinkproof.emitted`, `sinkproof.deprecated`;
 * - histogram: `sinkproof.delivery.duration` (ms, one per `deliver`);
 * - gauges: `sinkproof.sink.lag` (ledger head − watermark, in entries) and
 *   `sinkproof.sink.oldest_undelivered_age` (ms since the oldest entry past the watermark
 *   was appended; 0 when the sink is caught up).
 *
 * @module
 */

import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { logger } from "./debug.js";

/** Labels of one data point: small, low-cardinality strings. */
export type MetricLabels = Readonly<Record<string, string>>;

/** Where sinkproof reports what it does. Every method must be cheap and must not throw. */
export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  counter(name: string, value?: number, labels?: MetricLabels): void;
  /** Records one observation, e.g. a duration in ms. */
  histogram(name: string, value: number, labels?: MetricLabels): void;
  /** Sets a gauge to its current value. */
  gauge(name: string, value: number, labels?: MetricLabels): void;
}

/** Metrics that go nowhere: the default. */
export const noopMetrics: Metrics = Object.freeze({
  counter(): void {},
  histogram(): void {},
  gauge(): void {},
});

/** What an in-memory recorder has seen, keyed by `name{label=value,…}`. */
export interface MetricsSnapshot {
  /** Counter totals. */
  readonly counters: Readonly<Record<string, number>>;
  /** Every histogram observation, in order. */
  readonly histograms: Readonly<Record<string, readonly number[]>>;
  /** Last value of each gauge. */
  readonly gauges: Readonly<Record<string, number>>;
}

/** {@link Metrics} that remember, for tests. */
export interface MemoryMetrics extends Metrics {
  /** Everything recorded so far. */
  snapshot(): MetricsSnapshot;
  /** A counter's total (0 when never counted); labels must match exactly. */
  count(name: string, labels?: MetricLabels): number;
  /** Forgets everything. */
  reset(): void;
}

/** `name{a=1,b=2}` with labels sorted, or `name` without labels. */
export function metricId(name: string, labels?: MetricLabels): string {
  if (typeof name !== "string") invalidArgument("name", `must be a string, got ${describe(name)}`);
  if (labels === undefined) return name;
  if (typeof labels !== "object" || labels === null)
    invalidArgument("labels", `must be an object of strings, got ${describe(labels)}`);
  return reading("labels", () => {
    const keys = Object.keys(labels).sort();
    if (keys.length === 0) return name;
    const parts = keys.map((k) => {
      const value: unknown = labels[k];
      if (typeof value !== "string")
        invalidArgument(`labels.${k}`, `must be a string, got ${describe(value)}`);
      return `${k}=${value}`;
    });
    return `${name}{${parts.join(",")}}`;
  });
}

/** Checks a metrics option: an object with `counter`, `histogram` and `gauge`. Internal. */
export function checkMetrics(value: unknown, where: string): Metrics {
  if (value === undefined) return noopMetrics;
  if (value === noopMetrics) return noopMetrics;
  if (typeof value !== "object" || value === null)
    invalidArgument(where, `must be a Metrics object, got ${describe(value)}`);
  const methods = reading(where, () => {
    const { counter, histogram, gauge } = value as Record<string, unknown>;
    return { counter, histogram, gauge };
  });
  for (const [name, fn] of Object.entries(methods)) {
    if (typeof fn !== "function")
      invalidArgument(where, `must be a Metrics object (its ${name} is ${describe(fn)})`);
  }
  return value as Metrics;
}

/**
 * Metrics that never break the data path: a recorder that throws is logged (debug
 * `sinkproof:metrics`) and the delivery or emit it measured stands. Internal.
 */
export function safeMetrics(metrics: Metrics): Metrics {
  if (metrics === noopMetrics) return metrics;
  const log = logger("metrics");
  const call = (method: "counter" | "histogram" | "gauge", args: unknown[]) => {
    try {
      Reflect.apply(metrics[method], metrics, args);
    } catch (error) {
      log("%s(%s) threw: %O", method, String(args[0]), error);
    }
  };
  return Object.freeze({
    counter: (...args: unknown[]) => call("counter", args),
    histogram: (...args: unknown[]) => call("histogram", args),
    gauge: (...args: unknown[]) => call("gauge", args),
  }) as Metrics;
}

/**
 * Creates an in-memory metrics recorder.
 *
 * @example
 * ```ts
 * import { createMemoryMetrics } from "sinkproof";
 * const metrics = createMemoryMetrics();
 * const guard = guardSink({ name: "warehouse", ledger, write, metrics });
 * await guard.deliver(envelope);
 * metrics.count("sinkproof.delivered", { sink: "warehouse" }); // 1
 * ```
 */
export function createMemoryMetrics(): MemoryMetrics {
  let counters = new Map<string, number>();
  let histograms = new Map<string, number[]>();
  let gauges = new Map<string, number>();
  return {
    counter(name, value = 1, labels) {
      const id = metricId(name, labels);
      counters.set(id, (counters.get(id) ?? 0) + value);
    },
    histogram(name, value, labels) {
      const id = metricId(name, labels);
      const values = histograms.get(id);
      if (values === undefined) histograms.set(id, [value]);
      else values.push(value);
    },
    gauge(name, value, labels) {
      gauges.set(metricId(name, labels), value);
    },
    snapshot() {
      return {
        counters: Object.fromEntries(counters),
        histograms: Object.fromEntries([...histograms].map(([k, v]) => [k, [...v]])),
        gauges: Object.fromEntries(gauges),
      };
    },
    count(name, labels) {
      return counters.get(metricId(name, labels)) ?? 0;
    },
    reset() {
      counters = new Map();
      histograms = new Map();
      gauges = new Map();
    },
  };
}
