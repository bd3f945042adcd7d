/** One label set's observations: bucket counts, sum and count. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is `+Inf`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Float64Array(upperBounds.length + 1);
  }

  /** Records one value: a few comparisons and additions, nothing allocated. */
  observe(value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** One sample of a metric, in the shape prom-client's registry formats. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A Prometheus histogram that prom-client's `Registry` exposes like its own `Histogram` (same
 * `_bucket` / `_sum` / `_count` samples, `get()` contract, `sum` aggregator for cluster mode),
 * but whose series are plain objects the observer holds: an observation costs a few
 * comparisons instead of prom-client's label hashing (about 300 ns per call, measured), which
 * matters on the delivery path.
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
  ) {}

  /** The series of `labels` (created on first use), keyed by `key` (unique per label set). */
  child(key: string, labels: Readonly<Record<string, string>>): HistogramSeries {
    let series = this.series.get(key);
    if (!series) {
      series = new HistogramSeries(labels, this.upperBounds);
      this.series.set(key, series);
    }
    return series;
  }

  /** prom-client's metric contract: the samples of every series. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricSample[];
    aggregator: string;
  }> {
    const values: MetricSample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucket });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  /** prom-client's metric contract (`registry.resetMetrics()`): forgets every observation. */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
