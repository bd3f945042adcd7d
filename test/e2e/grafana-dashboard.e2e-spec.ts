import { readFileSync } from 'node:fs';
import path from 'node:path';
import { INTEGRATION_METRIC_NAMES } from '../../src/integration';
import type { DeliveryOutcome } from '../../src/integration/observability/metrics/integration-metric-set';
import { DEFAULT_METRICS_PREFIX } from '../../src/integration/observability/metrics/metrics.options';

// docs/grafana-dashboard.json and the PromQL of docs/observability.md only name metrics that exist
// (INTEGRATION_METRIC_NAMES with the default prefix), with the labels and types documented in
// docs/observability.md's table, whose names are checked against INTEGRATION_METRIC_NAMES too.

const root = path.resolve(__dirname, '../..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

interface MetricSpec {
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labels: readonly string[];
}

/** The metrics table of docs/observability.md: name → type and labels. */
function documentedMetrics(): Map<string, MetricSpec> {
  const rows = read('docs/observability.md').matchAll(
    /^\| `([a-z_:]+)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|/gm,
  );
  const metrics = new Map<string, MetricSpec>();
  for (const [, name, type, labels] of rows) {
    const names = [...labels!.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
    metrics.set(name!, { type: type as MetricSpec['type'], labels: names });
  }
  return metrics;
}

const PROMQL_FUNCTIONS = new Set(
  (
    'sum min max avg count group stddev stdvar topk bottomk quantile count_values ' +
    'rate irate increase delta idelta deriv predict_linear histogram_quantile ' +
    'clamp clamp_min clamp_max abs ceil floor round sqrt exp ln log2 log10 vector scalar time ' +
    'timestamp sort sort_desc label_replace label_join absent absent_over_time changes resets ' +
    'avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time'
  ).split(' '),
);
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
/** The values of the module's enumerated labels (a typo would select nothing, silently). */
const LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  outcome: Object.keys({
    processed: true,
    retried: true,
    dead_lettered: true,
    released: true,
  } satisfies Record<DeliveryOutcome, true>),
  status: ['pending', 'processing'],
};

/**
 * What is wrong with one PromQL expression (a Grafana one: `$variables` allowed): metric names
 * that are not the module's, histogram series without their suffix or counters with one, labels
 * a metric does not have, unknown functions. Also returns the metric names it selects.
 */
function promqlProblems(
  expr: string,
  metrics: Map<string, MetricSpec>,
): { problems: string[]; used: string[] } {
  const problems: string[] = [];
  const selectors: { name: string; labels: string[] }[] = [];
  // label_values(metric, label): a selection of `metric` that needs `label`.
  let text = expr.replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)/g, '$1{$2!=""}');
  text = text.replace(
    /([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g,
    (_m, name: string | undefined, body) => {
      const labels = [...(body as string).matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)];
      for (const [, label, op, value] of labels) {
        const allowed = LABEL_VALUES[label!];
        // Equality, or a regex that is a plain alternation of values (`processed|retried`).
        const values =
          op === '=' ? [value!] : /^\w+(\|\w+)*$/.test(value!) ? value!.split('|') : [];
        for (const v of allowed ? values : []) {
          if (!allowed!.includes(v)) problems.push(`${label}="${v}" is not a value of ${label}`);
        }
      }
      selectors.push({ name: name ?? '', labels: labels.map((m) => m[1]!) });
      return ` ${name ?? ''}@${selectors.length - 1} `;
    },
  );
  const grouping: string[] = [];
  text = text.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_m, _kw, labels: string) => {
      grouping.push(
        ...labels
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
      );
      return ' ';
    },
  );
  text = text.replace(/\[[^\]]*\]/g, ' ').replace(/\$\w+/g, ' ');

  const used: string[] = [];
  const known: string[] = [];
  for (const match of text.matchAll(/(?<![\w.:@$])([a-zA-Z_:][\w:]*)?(@(\d+))?/g)) {
    const [token, name, , index] = match;
    if (!token) continue;
    const selector = index === undefined ? undefined : selectors[Number(index)];
    if (!name) {
      problems.push(`a selector without a metric name: {${selector?.labels.join(',')}}`);
      continue;
    }
    const next = text.slice(match.index + token.length).trimStart()[0];
    if (next === '(' && !selector) {
      if (!PROMQL_FUNCTIONS.has(name)) problems.push(`unknown PromQL function ${name}()`);
      continue;
    }
    if (PROMQL_KEYWORDS.has(name) && !selector) continue;
    used.push(name);
    let spec = metrics.get(name);
    let labels = spec ? [...spec.labels] : [];
    if (spec?.type === 'histogram') {
      problems.push(`${name} is a histogram: select ${name}_bucket, _sum or _count`);
    } else if (!spec) {
      const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
      const stem = suffix ? metrics.get(name.slice(0, -suffix.length)) : undefined;
      if (stem?.type === 'histogram') {
        spec = stem;
        labels = [...stem.labels, ...(suffix === '_bucket' ? ['le'] : [])];
      } else {
        problems.push(`unknown metric ${name}`);
      }
    }
    if (!spec) continue;
    known.push(...labels);
    for (const label of selector?.labels ?? []) {
      if (![...labels, ...TARGET_LABELS].includes(label)) {
        problems.push(`${name} has no label ${label}`);
      }
    }
  }
  for (const label of grouping) {
    if (![...known, ...TARGET_LABELS].includes(label)) {
      problems.push(`grouping by ${label}, a label none of the selected metrics has`);
    }
  }
  return { problems, used };
}

interface Target {
  readonly expr?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
}
interface Dashboard {
  readonly __inputs: readonly { name: string; type: string; pluginId: string }[];
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: {
    readonly list: readonly { name: string; query: string | { query: string } }[];
  };
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function dashboardExpressions(dashboard: Dashboard): { where: string; expr: string }[] {
  const exprs = dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((t) => ({ where: `panel "${panel.title}"`, expr: t.expr ?? '' })),
  );
  const variables = dashboard.templating.list.map((v) => ({
    where: `variable $${v.name}`,
    expr: typeof v.query === 'string' ? v.query : v.query.query,
  }));
  return [...exprs, ...variables];
}

/** The PromQL of docs/observability.md: alert `expr`s and inline code that calls a function. */
function documentedExpressions(): string[] {
  const doc = read('docs/observability.md');
  const exprs: string[] = [];
  for (const [, yaml] of doc.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const lines = yaml!.split('\n');
    lines.forEach((line, i) => {
      const m = /^(\s*)expr:\s*(.*)$/.exec(line);
      if (!m) return;
      if (m[2] !== '|') return void exprs.push(m[2]!);
      const body: string[] = [];
      for (const next of lines.slice(i + 1)) {
        if (next.length - next.trimStart().length <= m[1]!.length) break;
        body.push(next.trim());
      }
      exprs.push(body.join(' '));
    });
  }
  for (const [, code] of doc.matchAll(/`([^`\n]*\([^`\n]*integration_[^`\n]*)`/g))
    exprs.push(code!);
  return exprs;
}

describe('docs/grafana-dashboard.json', () => {
  const metrics = documentedMetrics();
  const dashboard = JSON.parse(read('docs/grafana-dashboard.json')) as Dashboard;

  it("observability.md's metrics table lists exactly the module's metrics", () => {
    const names = Object.values(INTEGRATION_METRIC_NAMES).map((n) => DEFAULT_METRICS_PREFIX + n);
    expect([...metrics.keys()].sort()).toEqual(names.sort());
  });

  it('is an importable dashboard on a ${DS_PROMETHEUS} input', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({
        name: 'DS_PROMETHEUS',
        type: 'datasource',
        pluginId: 'prometheus',
      }),
    ]);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({
        panel: panel.title,
        uid: '${DS_PROMETHEUS}',
      });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        expect(target.datasource?.uid).toBe('${DS_PROMETHEUS}');
    }
  });

  it('every expression names existing metrics and labels, and every metric is on a panel', () => {
    const used = new Set<string>();
    const problems = dashboardExpressions(dashboard).flatMap(({ where, expr }) => {
      const result = promqlProblems(expr, metrics);
      result.used.forEach((name) => used.add(name.replace(/_(bucket|sum|count)$/, '')));
      return result.problems.map((p) => `${where}: ${p} in ${expr}`);
    });
    expect(problems).toEqual([]);
    expect([...metrics.keys()].filter((name) => !used.has(name))).toEqual([]);
  });

  it("observability.md's example alerts and queries name existing metrics and labels", () => {
    const exprs = documentedExpressions();
    expect(exprs.length).toBeGreaterThanOrEqual(7);
    const problems = exprs.flatMap((expr) =>
      promqlProblems(expr, metrics).problems.map((p) => `${p} in ${expr}`),
    );
    expect(problems).toEqual([]);
  });

  it('the check rejects wrong names, suffixes, labels and functions', () => {
    const check = (expr: string): string[] => promqlProblems(expr, metrics).problems;
    expect(check('sum by (consumer) (rate(integration_deliveries_total[5m]))')).toEqual([]);
    expect(check('rate(integration_delivery_total[5m])')).toEqual([
      'unknown metric integration_delivery_total',
    ]);
    expect(check('integraton_backlog')).toEqual(['unknown metric integraton_backlog']);
    expect(check('rate(integration_claims_total_bucket[5m])')).toEqual([
      'unknown metric integration_claims_total_bucket',
    ]);
    expect(check('rate(integration_handler_duration_seconds[5m])')).toEqual([
      'integration_handler_duration_seconds is a histogram: select integration_handler_duration_seconds_bucket, _sum or _count',
    ]);
    expect(check('integration_backlog{outcome="processed"}')).toEqual([
      'integration_backlog has no label outcome',
    ]);
    expect(check('sum by (event_name) (integration_dead_letters)')).toEqual([
      'grouping by event_name, a label none of the selected metrics has',
    ]);
    expect(check('integration_deliveries_total{outcome="dead_letter"}')).toEqual([
      'outcome="dead_letter" is not a value of outcome',
    ]);
    expect(check('integration_backlog{status=~"pending|waiting"}')).toEqual([
      'status="waiting" is not a value of status',
    ]);
    expect(check('label_values(integration_backlog, outcome)')).toEqual([
      'integration_backlog has no label outcome',
    ]);
    expect(check('histogram_quantil(0.9, integration_claim_batch_size_bucket)')).toEqual([
      'unknown PromQL function histogram_quantil()',
    ]);
  });
});
