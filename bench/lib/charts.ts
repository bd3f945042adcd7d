import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** Renders a Vega-Lite spec to an SVG string (headless, no canvas needed). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Points of the two sweeps. */
export interface ChartData {
  readonly batch: ReadonlyArray<{ batchSize: number; eventsPerSec: number }>;
  readonly rates: ReadonlyArray<{ rate: number; p50: number; p95: number; p99: number }>;
  readonly caption: string;
}

/** Writes docs/images/throughput-vs-batch-size.svg and latency-vs-publish-rate.svg; returns their paths. */
export async function writeCharts(data: ChartData, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const throughput: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Drain throughput vs batch size', subtitle: data.caption },
    width: 520,
    height: 280,
    data: { values: data.batch.map((b) => ({ ...b })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'batchSize',
        type: 'quantitative',
        title: 'processor.batchSize',
        scale: { type: 'log' },
      },
      y: {
        field: 'eventsPerSec',
        type: 'quantitative',
        title: 'events/s (1 consumer, 1 instance)',
      },
    },
  };
  const latency: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'Commit → handler start latency vs publish rate (LISTEN)',
      subtitle: data.caption,
    },
    width: 520,
    height: 280,
    data: {
      values: data.rates.flatMap((r) => [
        { rate: r.rate, percentile: 'p50', ms: r.p50 },
        { rate: r.rate, percentile: 'p95', ms: r.p95 },
        { rate: r.rate, percentile: 'p99', ms: r.p99 },
      ]),
    },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'rate', type: 'quantitative', title: 'published events/s' },
      y: { field: 'ms', type: 'quantitative', title: 'milliseconds', scale: { type: 'log' } },
      color: { field: 'percentile', type: 'nominal', title: null },
    },
  };
  const files = [
    [path.join(dir, 'throughput-vs-batch-size.svg'), throughput],
    [path.join(dir, 'latency-vs-publish-rate.svg'), latency],
  ] as const;
  for (const [file, spec] of files) await writeFile(file, (await renderSvg(spec)) + '\n');
  return files.map(([file]) => file);
}
