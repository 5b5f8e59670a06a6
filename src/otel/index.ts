/**
 * `sinkproof/otel`: reports sinkproof's metrics to OpenTelemetry.
 *
 * Pass a `Meter` from `@opentelemetry/api` (an optional peer dependency: this module only
 * uses its types, the meter comes from your SDK set-up). Counters become OTel counters,
 * histograms OTel histograms, gauges OTel gauges; labels become attributes. Instruments
 * are made once per name.
 *
 * @packageDocumentation
 */

import type { Attributes, Counter, Gauge, Histogram, Meter } from "@opentelemetry/api";
import { describe, invalidArgument } from "../internal/arguments.js";
import type { MetricLabels, Metrics } from "../observe/metrics.js";

/** Units and descriptions of the instruments sinkproof reports. */
const DESCRIPTIONS: Readonly<Record<string, { unit?: string; description: string }>> = {
  "sinkproof.delivered": { description: "Envelopes written to a sink" },
  "sinkproof.duplicates": {
    description: "Deliveries of keys already done at the sink (writer not called)",
  },
  "sinkproof.conflicts": { description: "Deliveries of keys the sink holds with another checksum" },
  "sinkproof.rejected": { description: "Envelopes refused by a sink's validator" },
  "sinkproof.failed": { description: "Deliveries whose attempts were exhausted" },
  "sinkproof.retries": { description: "Write attempts retried" },
  "sinkproof.replayed": { description: "Entries written again by a repair" },
  "sinkproof.refused": { description: "Deliveries refused by a frozen sink" },
  "sinkproof.emitted": { description: "Envelopes appended by producers" },
  "sinkproof.delivery.duration": {
    unit: "ms",
    description: "Time of one delivery, from call to receipt",
  },
  "sinkproof.sink.lag": { unit: "{entry}", description: "Ledger head minus the sink's watermark" },
  "sinkproof.sink.oldest_undelivered_age": {
    unit: "ms",
    description: "Age of the oldest entry past the watermark",
  },
};

/**
 * Creates a {@link Metrics} that reports to an OpenTelemetry meter.
 *
 * @example
 * ```ts
 * import { metrics } from "@opentelemetry/api";
 * import { createOtelMetrics } from "sinkproof/otel";
 * import { guardSink } from "sinkproof";
 *
 * const otel = createOtelMetrics(metrics.getMeter("orders-svc"));
 * const warehouse = guardSink({ name: "warehouse", ledger, write, metrics: otel });
 * ```
 */
export function createOtelMetrics(meter: Meter): Metrics {
  if (
    typeof meter !== "object" ||
    meter === null ||
    typeof meter.createCounter !== "function" ||
    typeof meter.createHistogram !== "function" ||
    typeof meter.createGauge !== "function"
  ) {
    invalidArgument(
      "meter",
      `must be an OpenTelemetry Meter (@opentelemetry/api >= 1.9), got ${describe(meter)}`,
    );
  }
  const options = (name: string) => DESCRIPTIONS[name] ?? { description: name };
  // One instrument per metric name, created on first use (`this` is the meter, as the
  // OpenTelemetry API expects).
  const instruments = <I>(create: (name: string, opts: { description: string }) => I) => {
    const made = new Map<string, I>();
    return (name: string): I => {
      let instrument = made.get(name);
      if (instrument === undefined) {
        instrument = create.call(meter, name, options(name));
        made.set(name, instrument);
      }
      return instrument;
    };
  };
  const counter = instruments<Counter>(meter.createCounter);
  const histogram = instruments<Histogram>(meter.createHistogram);
  const gauge = instruments<Gauge>(meter.createGauge);
  const attributes = (labels: MetricLabels | undefined): Attributes | undefined => labels;
  return {
    counter(name, value = 1, labels) {
      counter(name).add(value, attributes(labels));
    },
    histogram(name, value, labels) {
      histogram(name).record(value, attributes(labels));
    },
    gauge(name, value, labels) {
      gauge(name).record(value, attributes(labels));
    },
  };
}
