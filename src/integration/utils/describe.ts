/** Readable, never-throwing renderings of untrusted values for log lines and error messages. */

/** Short, never-throwing rendering of an untrusted value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function' || typeof value === 'symbol') return typeof value;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** Readable text for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  let json: string | undefined;
  try {
    // undefined for values JSON cannot express (undefined, symbols, functions).
    json = JSON.stringify(error) as string | undefined;
  } catch {
    // cyclic or throwing toJSON: fall through to String()
  }
  return `Non-Error thrown: ${json ?? String(error)}`;
}
