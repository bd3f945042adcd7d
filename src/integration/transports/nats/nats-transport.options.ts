/** A JetStream stream the transport creates (or updates) when it connects. */
export interface NatsStreamDeclaration {
  /** Stream name, e.g. `VAULT`. */
  readonly name: string;
  /** Subjects it stores, e.g. `['events.vault.>']`. */
  readonly subjects: readonly string[];
  /**
   * JetStream's duplicate window: a message id published again within it is dropped. Keep it
   * longer than the relay's longest retry delay.
   * @default 120000 (2 minutes, the server's default)
   */
  readonly duplicateWindowMs?: number;
  /** `'file'` (survives a server restart) or `'memory'`. @default 'file' */
  readonly storage?: 'file' | 'memory';
}

/** The inbound side: a durable pull consumer of a stream. */
export interface NatsInboundOptions {
  /** The stream to consume. */
  readonly stream: string;
  /** Durable consumer name: its position survives restarts; instances sharing it share the work. */
  readonly durable: string;
  /** Only the messages of this subject (wildcards allowed). @default every subject of the stream */
  readonly filterSubject?: string;
  /**
   * How long a delivered message may stay unacknowledged before JetStream redelivers it. The
   * transport reports progress on the messages it holds (every third of this), so only a message
   * lost with a connection or a crashed instance waits this long before it comes back.
   * @default 30000
   */
  readonly ackWaitMs?: number;
  /**
   * Messages delivered and not yet acknowledged at once, across the consumer's instances; each
   * instance also pulls no more than this. Keep it at least the inbound module's `concurrency`.
   * One instance keeps per-key order at any value (its lanes, retries in place, and the wait
   * for unacknowledged messages after a reconnection or restart); several instances sharing
   * the durable keep it only with 1 (one message in flight in all), otherwise two instances
   * can run two messages of one key at once.
   * @default 64
   */
  readonly maxAckPending?: number;
  /**
   * Subject of a dead letter, from the subject the message arrived on. A stream must store it
   * (declare one in `streams`), or dead-lettering fails and the message is redelivered.
   * @default (subject) => `dead-letter.${subject}`
   */
  readonly deadLetterSubject?: (subject: string) => string;
  /** Create the durable consumer when it does not exist. @default true */
  readonly declare?: boolean;
}

/** Options of {@link natsTransport}. */
export interface NatsTransportOptions {
  /** Server URL(s). @default 'nats://127.0.0.1:4222' */
  readonly servers?: string | readonly string[];
  /**
   * More connection options of `@nats-io/transport-node`'s `connect` (credentials, TLS, name,
   * reconnect timing). The transport reconnects forever unless this says otherwise.
   */
  readonly connection?: Readonly<Record<string, unknown>>;
  /**
   * Subject of an event, from its name.
   * @default (name) => `events.${name}` (event names are dot-separated, as subjects are)
   */
  readonly subject?: (eventName: string) => string;
  /** Streams created or updated at connect (the relay's, the dead letters'). @default none */
  readonly streams?: readonly NatsStreamDeclaration[];
  /** How long a publish waits for JetStream's acknowledgement. @default 5000 */
  readonly publishTimeoutMs?: number;
  /** Inbound side: needed by `IntegrationInboundModule`. */
  readonly inbound?: NatsInboundOptions;
}

const NAME = /^[A-Za-z0-9_-]{1,200}$/;

/** Problems with NATS transport options (empty when valid), each naming the field and the fix. */
export function natsOptionProblems(options: NatsTransportOptions): string[] {
  if (typeof options !== 'object' || options === null)
    return [
      `options must be an object such as { servers: 'nats://127.0.0.1:4222' } (got ${String(options)})`,
    ];
  const problems: string[] = [];
  const positive = (value: unknown, path: string) => {
    if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value > 0))
      problems.push(`${path} must be a positive integer (got ${String(value)})`);
  };
  if (options.subject !== undefined && typeof options.subject !== 'function')
    problems.push(
      'subject must be a function from event name to subject, e.g. (name) => `events.${name}`',
    );
  for (const [i, s] of (options.streams ?? []).entries()) {
    if (typeof s?.name !== 'string' || !NAME.test(s.name))
      problems.push(
        `streams[${i}].name must be letters, digits, _ or - (got ${JSON.stringify(s?.name)})`,
      );
    if (!Array.isArray(s?.subjects) || s.subjects.length === 0)
      problems.push(`streams[${i}].subjects must list at least one subject, e.g. ['events.>']`);
    positive(s?.duplicateWindowMs, `streams[${i}].duplicateWindowMs`);
    if (s?.storage !== undefined && s.storage !== 'file' && s.storage !== 'memory')
      problems.push(`streams[${i}].storage must be 'file' or 'memory' (got ${String(s.storage)})`);
  }
  positive(options.publishTimeoutMs, 'publishTimeoutMs');
  const inbound = options.inbound;
  if (inbound !== undefined) {
    if (typeof inbound.stream !== 'string' || !NAME.test(inbound.stream))
      problems.push(`inbound.stream must name a stream (got ${JSON.stringify(inbound.stream)})`);
    if (typeof inbound.durable !== 'string' || !NAME.test(inbound.durable))
      problems.push(
        `inbound.durable must be letters, digits, _ or - (got ${JSON.stringify(inbound.durable)})`,
      );
    positive(inbound.ackWaitMs, 'inbound.ackWaitMs');
    positive(inbound.maxAckPending, 'inbound.maxAckPending');
    if (inbound.deadLetterSubject !== undefined && typeof inbound.deadLetterSubject !== 'function')
      problems.push('inbound.deadLetterSubject must be a function from subject to subject');
  }
  return problems;
}

/** The default subject of an event: `events.<name>` (event names are valid subject tokens). */
export function defaultNatsSubject(eventName: string): string {
  return `events.${eventName}`;
}
