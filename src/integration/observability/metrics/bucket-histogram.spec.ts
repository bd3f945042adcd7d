import { Histogram, Registry } from 'prom-client';
import { BucketHistogram } from './bucket-histogram';

describe('BucketHistogram', () => {
  const values = [0, 0.001, 0.005, 0.0051, 0.3, 2, 31, 1e9];
  const buckets = [0.005, 0.01, 0.25, 1, 30];

  it('is scraped exactly like prom-client’s own Histogram with the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const mine = new BucketHistogram('wait_seconds', 'How long', buckets);
    // prom-client types registerMetric with its own classes; the registry needs only get() and name.
    ours.registerMetric(mine as unknown as Histogram);
    const reference = new Histogram({
      name: 'wait_seconds',
      help: 'How long',
      labelNames: ['consumer'],
      buckets,
      registers: [theirs],
    });
    for (const consumer of ['a', 'b']) {
      const series = mine.child(consumer, { consumer });
      for (const v of values) {
        series.observe(v);
        reference.observe({ consumer }, v);
      }
    }
    // prom-client puts `le` first; Prometheus does not care about label order.
    const sorted = (text: string) =>
      text
        .replace(/\{le="([^"]+)",consumer="([^"]+)"\}/g, '{consumer="$2",le="$1"}')
        .split('\n')
        .sort();
    expect(sorted(await ours.metrics())).toEqual(sorted(await theirs.metrics()));
    expect(await ours.metrics()).toContain('wait_seconds_bucket{consumer="a",le="0.005"} 3\n');

    ours.resetMetrics();
    expect(await ours.metrics()).toContain('wait_seconds_count{consumer="b"} 0');
  });
});
