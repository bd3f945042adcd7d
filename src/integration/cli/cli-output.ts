/** Rendering helpers shared by the CLI's commands: aligned tables, JSON documents, cells. */

/**
 * A table with a header row, columns padded to their widest cell and aligned as `align` says,
 * one letter per column: `l` left (names, text), `r` right (numbers). Trailing blanks trimmed;
 * ends with a newline.
 */
export function formatTable(rows: readonly (readonly string[])[], align: string): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) =>
            align[i] === 'r' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
          )
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** One JSON document on its own line (dates as ISO strings): what `--json` prints. */
export function jsonDocument(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** A cell of free text on one line, cut to `max` characters. */
export function oneLine(text: string | null, max = 60): string {
  if (text === null) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** An instant as the tables show it: ISO 8601 to the second, UTC. */
export function isoSeconds(date: Date | null): string {
  return date === null ? '' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration in ms as a short age: `850ms`, `42s`, `7m`, `3h`, `2d`. */
export function shortAge(ms: number | null): string {
  if (ms === null) return '';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1_000, 's'],
  ];
  const [size, unit] = units.find(([size]) => ms >= size)!;
  return `${Math.floor(ms / size)}${unit}`;
}
