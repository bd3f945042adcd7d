/** Longest description {@link describeDatabaseError} returns. */
const MAX_DESCRIPTION_LENGTH = 300;

interface ErrorShape {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly errors?: unknown;
  readonly meta?: {
    readonly driverAdapterError?: {
      readonly cause?: {
        readonly originalCode?: unknown;
        readonly originalMessage?: unknown;
        readonly kind?: unknown;
        readonly message?: unknown;
      };
    };
  };
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() ? value : undefined;

/** The informative line of a possibly multi-line message (Prisma puts a call frame first). */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const first = lines[0] ?? '';
  return /invocation:?$/.test(first) && lines.length > 1 ? lines[lines.length - 1]! : first;
}

/**
 * A database error from any adapter in one line: its SQLSTATE (or driver code such as
 * `ECONNREFUSED`), then the first line of the server's message. Never the SQL text, the
 * parameters or a multi-line ORM frame, so it is safe to log on every failure.
 *
 * ```ts
 * describeDatabaseError(e); // '42P01 relation "outbox_event" does not exist'
 * ```
 */
export function describeDatabaseError(error: unknown): string {
  if (error === null || typeof error !== 'object') return oneLine(String(error));
  const shape = error as ErrorShape;
  // Prisma with a driver adapter keeps the server's code and message here.
  const adapterCause = shape.meta?.driverAdapterError?.cause;
  const code =
    text(adapterCause?.originalCode) ?? text(adapterCause?.kind) ?? text(shape.code) ?? undefined;
  let message =
    text(adapterCause?.originalMessage) ?? text(adapterCause?.message) ?? text(shape.message);
  // Node reports a refused connection to several addresses as an AggregateError without message.
  if (!message && Array.isArray(shape.errors)) {
    message = text((shape.errors[0] as ErrorShape | undefined)?.message);
  }
  const line = oneLine(message ?? (error instanceof Error ? error.name : 'unknown error'));
  const described = code && !line.startsWith(code) ? `${code} ${line}` : line;
  return described.length > MAX_DESCRIPTION_LENGTH
    ? `${described.slice(0, MAX_DESCRIPTION_LENGTH - 1)}…`
    : described;
}
