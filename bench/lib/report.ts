import type { Summary } from './stats';

/** One row of a results table. */
export interface Row {
  readonly cells: readonly string[];
}

/** A titled table of the results. */
export interface Table {
  readonly title: string;
  readonly note?: string;
  readonly header: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

/** A target of the issue, checked against the figures. */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean | null;
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n < 10 ? fmt(n, 2) : n < 100 ? fmt(n, 1) : fmt(n, 0);
}

/** `median (±spread%)` of a summary. */
export function med(s: Summary, digits = 0): string {
  return s.runs.length > 1
    ? `${fmt(s.median, digits)} (±${fmt(s.spreadPct / 2, 0)}%)`
    : fmt(s.median, digits);
}

export function renderTable(t: Table): string {
  const lines = [`### ${t.title}`, ''];
  if (t.note) lines.push(t.note, '');
  lines.push(`| ${t.header.join(' | ')} |`, `|${t.header.map(() => ' --- ').join('|')}|`);
  for (const r of t.rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export function renderTargets(checks: readonly TargetCheck[]): string {
  const rows = checks.map((c) => [
    c.target,
    c.measured,
    c.pass === null ? 'not measured' : c.pass ? 'met' : '**missed**',
  ]);
  return renderTable({ title: 'Targets', header: ['Target', 'Measured', 'Result'], rows });
}

/** `1 instance`, `2 instances`. */
export function instancesText(n: number): string {
  return `${n} instance${n > 1 ? 's' : ''}`;
}
