/** Longest error summary a public response carries. */
export const MAX_PUBLIC_ERROR_LENGTH = 200;

/** Stack frames (`at fn (file:1:2)`) and source excerpts (`  17 code`, `→ 20 code`). */
const NOISE_LINE = /^\s*(?:at\s|→|\d+\s)/;
/** File paths and URLs: POSIX absolute paths, Windows drive paths, `file://` URLs. */
const PATH = /(?:file:\/\/\S*|[A-Za-z]:\\\S*|(?:^|(?<=[\s("'`]))\/[^\s)"'`]*)/g;

/**
 * A safe summary of a stored `last_error` for public responses: stack frames, source excerpts
 * and file paths removed, whitespace collapsed, at most {@link MAX_PUBLIC_ERROR_LENGTH}
 * characters. The full text stays in the database and the logs.
 */
export function publicErrorSummary(lastError: string | null): string | null {
  if (lastError === null) return null;
  const text = lastError
    .split('\n')
    .filter((line) => !NOISE_LINE.test(line))
    .join(' ')
    .replace(PATH, '<path>')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length <= MAX_PUBLIC_ERROR_LENGTH) return text;
  return `${text.slice(0, MAX_PUBLIC_ERROR_LENGTH - 1)}…`;
}
