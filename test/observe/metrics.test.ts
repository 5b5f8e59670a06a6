import { AggregationTemporality, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { describe, expect, it } from "vitest";
import {
  createMemoryMetrics,
  createSealer,
  guardSink,
  InvalidArgumentError,
  MemoryLedger,
  metricId,
  noopMetrics,
} from "../../src/index.js";
import { createOtelMetrics } from "../../src/otel/index.js";

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe("metrics", () => {
  it("the memory recorder counts, observes and gauges by name and labels", () => {
    const m = createMemoryMetrics();
    m.counter("a");
    m.counter("a", 2, { sink: "s" });
    m.counter("a", 3, { sink: "s" });
    m.histogram("h", 5, { sink: "s" });
    m.histogram("h", 7, { sink: "s" });
    m.gauge("g", 1);
    m.gauge("g", 4);
    expect(m.count("a")).toBe(1);
    expect(m.count("a", { sink: "s" })).toBe(5);
    expect(m.snapshot()).toEqual({
      counters: { a: 1, "a{sink=s}": 5 },
      histograms: { "h{sink=s}": [5, 7] },
      gauges: { g: 4 },
    });
    m.reset();
    expect(m.snapshot().counters).toEqual({});
    expect(metricId("x", { b: "2", a: "1" })).toBe("x{a=1,b=2}");
    expect(() => noopMetrics.counter("x")).not.toThrow();
  });

  it("sinkproof/otel reports deliveries to an OpenTelemetry meter", async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const metrics = createOtelMetrics(provider.getMeter("test"));
    const ledger = new MemoryLedger();
    const seal = createSealer();
    const envelope = seal({
      producer: "p",
      seq: 0,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: {},
    });
    await ledger.append([envelope]);
    const guard = guardSink({ name: "warehouse", ledger, write: () => undefined, metrics });
    await guard.deliver(envelope);
    await guard.deliver(envelope);
    await guard.measure();
    const { resourceMetrics } = await reader.collect();
    const points = new Map<string, number>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints as Array<{
          value: unknown;
          attributes: Record<string, unknown>;
        }>) {
          const value =
            typeof point.value === "number"
              ? point.value
              : (point.value as { count: number }).count;
          points.set(`${metric.descriptor.name}{sink=${String(point.attributes.sink)}}`, value);
        }
      }
    }
    expect(points.get("sinkproof.delivered{sink=warehouse}")).toBe(1);
    expect(points.get("sinkproof.duplicates{sink=warehouse}")).toBe(1);
    expect(points.get("sinkproof.delivery.duration{sink=warehouse}")).toBe(2);
    expect(points.get("sinkproof.sink.lag{sink=warehouse}")).toBe(0);
    await provider.shutdown();
  });

  it("createOtelMetrics refuses what is not a meter", () => {
    expect(() => createOtelMetrics({} as never)).toThrow(InvalidArgumentError);
  });
});
