/**
 * The monitor's learned baselines: per sink and metric, an exponentially weighted mean
 * and variance of the values its passes measured, and the test of a new value against
 * them (more than `sigmas` standard deviations above the mean, after a warm-up). Internal.
 *
 * @module
 */

/**
 * What a baseline learns per sink, one value a pass: `lagMs` (the age of its oldest late
 * entry, 0 when none is late), `findingRate` (findings other than `matched` and `missing-late`, per entry
 * checked) and `duplicateRate` (`duplicate` findings per entry checked).
 */
export type BaselineMetric = "lagMs" | "findingRate" | "duplicateRate";

/** Every {@link BaselineMetric}, in the order a pass checks them. */
export const BASELINE_METRICS: readonly BaselineMetric[] = Object.freeze([
  "lagMs",
  "findingRate",
  "duplicateRate",
]);

/**
 * The smallest deviation that counts, per metric, whatever the learned variance: a sink
 * whose lag was always 0 ms is not anomalous at 3 ms, nor one whose finding rate was
 * always 0 at one finding in a million.
 */
export const DEVIATION_FLOOR: Readonly<Record<BaselineMetric, number>> = Object.freeze({
  lagMs: 1000,
  findingRate: 0.001,
  duplicateRate: 0.001,
});

/** What a baseline has learned so far. */
export interface BaselineState {
  /** The weighted mean. */
  readonly mean: number;
  /** The weighted standard deviation. */
  readonly sigma: number;
  /** Values learned. */
  readonly samples: number;
}

/** An exponentially weighted mean and variance (West's update; `alpha` per new value). */
export class Ewma {
  #mean = 0;
  #variance = 0;
  #samples = 0;

  constructor(readonly alpha: number) {}

  /** Learns one value. */
  add(value: number): void {
    if (this.#samples === 0) {
      this.#mean = value;
      this.#variance = 0;
    } else {
      const delta = value - this.#mean;
      this.#mean += this.alpha * delta;
      this.#variance = (1 - this.alpha) * (this.#variance + this.alpha * delta * delta);
    }
    this.#samples++;
  }

  state(): BaselineState {
    return { mean: this.#mean, sigma: Math.sqrt(this.#variance), samples: this.#samples };
  }
}

/**
 * Whether `value` is anomalous against `state`: learned from at least `warmup` values,
 * and above the mean by more than `sigmas` deviations (the learned one, or the metric's
 * floor when that is larger).
 */
export function isAnomalous(
  state: BaselineState,
  value: number,
  metric: BaselineMetric,
  sigmas: number,
  warmup: number,
): boolean {
  if (state.samples < warmup) return false;
  return value > state.mean + sigmas * Math.max(state.sigma, DEVIATION_FLOOR[metric]);
}
