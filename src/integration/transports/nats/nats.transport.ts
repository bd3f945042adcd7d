import { Logger } from '@nestjs/common';
import type { NatsConnection, MsgHdrs } from '@nats-io/transport-node';
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import { TransportClosedError } from '../../errors/transport-closed.error';
import { errorMessage } from '../../utils/describe';
import type {
  IncomingMessage,
  IncomingMessageHandler,
  IntegrationTransport,
  OutgoingMessage,
  TransportSubscription,
} from '../integration-transport';
import { INTEGRATION_HEADERS } from '../transport-headers';
import { loadNatsClient, type NatsClient } from './nats-client.loader';
import {
  defaultNatsSubject,
  natsOptionProblems,
  type NatsInboundOptions,
  type NatsTransportOptions,
} from './nats-transport.options';

/** How long one pull waits for a message before asking again (bounds the stop time). */
const PULL_EXPIRES_MS = 1_000;
/** Pause after a failed pull (connection down) before the next one. */
const PULL_ERROR_PAUSE_MS = 250;
/** Longest header value the transport writes for an error (NATS headers are one line). */
const MAX_ERROR_HEADER = 2_000;

/**
 * NATS JetStream as an {@link IntegrationTransport}, on the official clients
 * (`@nats-io/transport-node` + `@nats-io/jetstream`, optional peers loaded at `connect`).
 *
 * - Outbound: `js.publish` to `subject(event name)` with `Nats-Msg-Id` = event id, so the
 *   stream's duplicate window drops a message the relay publishes again; resolves on the
 *   stream's acknowledgement (`PubAck`), rejects on timeout or when no stream stores the subject.
 * - Inbound: a durable pull consumer (explicit acks, `max_ack_pending` 1 by default); messages
 *   are handed over one at a time; `ack` waits for the server to confirm it; `retry` naks with a
 *   delay; `deadLetter` publishes a copy (headers + error; `Nats-Msg-Id` =
 *   `<id>:dead-letter:<stream sequence>`) to the dead-letter subject, waits for its
 *   acknowledgement, then acks the original.
 *
 * ```ts
 * natsTransport({
 *   servers: 'nats://127.0.0.1:4222',
 *   streams: [{ name: 'EVENTS', subjects: ['events.>'] }, { name: 'DEAD_LETTERS', subjects: ['dead-letter.>'] }],
 *   inbound: { stream: 'EVENTS', durable: 'projection' },
 * })
 * ```
 */
export class NatsTransport implements IntegrationTransport {
  readonly name = 'nats';
  private readonly logger = new Logger('NatsTransport');
  private connecting?: Promise<void>;
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private client?: NatsClient;
  private closed = false;

  /**
   * @throws InvalidTransportOptionsError when an option is invalid.
   * @param load - how to load the client packages; replaceable in tests. @default require
   */
  constructor(
    private readonly options: NatsTransportOptions = {},
    private readonly load?: (id: string) => unknown,
  ) {
    const problems = natsOptionProblems(options);
    if (problems.length) throw new InvalidTransportOptionsError('natsTransport', problems);
  }

  /** Connects once (later calls share the connection) and declares the configured streams. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError(this.name, 'connect'));
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<void> {
    const client = (this.client = loadNatsClient(this.load));
    const servers = this.options.servers ?? 'nats://127.0.0.1:4222';
    const nc = await client.core.connect({
      servers: typeof servers === 'string' ? servers : [...servers],
      maxReconnectAttempts: -1,
      ...this.options.connection,
    });
    this.nc = nc;
    void this.watch(nc);
    this.js = client.jetstream.jetstream(nc, { timeout: this.options.publishTimeoutMs ?? 5_000 });
    const streams = this.options.streams ?? [];
    const inbound = this.options.inbound;
    if (streams.length === 0 && !inbound) return;
    const jsm = await client.jetstream.jetstreamManager(nc);
    for (const s of streams) {
      const config = {
        name: s.name,
        subjects: [...s.subjects],
        duplicate_window: client.core.nanos(s.duplicateWindowMs ?? 120_000),
        storage:
          s.storage === 'memory'
            ? client.jetstream.StorageType.Memory
            : client.jetstream.StorageType.File,
      };
      try {
        await jsm.streams.info(s.name);
        await jsm.streams.update(s.name, config);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await jsm.streams.add(config);
      }
    }
    if (inbound && inbound.declare !== false) {
      const config = {
        durable_name: inbound.durable,
        ack_policy: client.jetstream.AckPolicy.Explicit,
        ack_wait: client.core.nanos(inbound.ackWaitMs ?? 30_000),
        max_ack_pending: inbound.maxAckPending ?? 1,
        // Dead letters are the inbound module's decision (its retry.maxAttempts), not the server's.
        max_deliver: -1,
        ...(inbound.filterSubject ? { filter_subject: inbound.filterSubject } : {}),
      };
      try {
        await jsm.consumers.info(inbound.stream, inbound.durable);
        await jsm.consumers.update(inbound.stream, inbound.durable, config);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await jsm.consumers.add(inbound.stream, config);
      }
    }
  }

  /** Logs the connection's disconnects and reconnects (one line each). */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect')
        this.logger.warn(
          `NATS ${status.type} (${String((status as { server?: string }).server ?? '')})`,
        );
    }
  }

  /** Publishes with `Nats-Msg-Id` = message id; resolves on JetStream's acknowledgement. */
  async publish(message: OutgoingMessage): Promise<void> {
    const { js, client } = this.ready('publish');
    const headers = client.core.headers();
    for (const [name, value] of Object.entries(message.headers)) headers.set(name, value);
    const subject = (this.options.subject ?? defaultNatsSubject)(message.name);
    await js.publish(subject, message.payload, { msgID: message.id, headers });
  }

  /** Pulls from the durable consumer of `inbound`, one message at a time. */
  async subscribe(handler: IncomingMessageHandler): Promise<TransportSubscription> {
    const inbound = this.options.inbound;
    if (!inbound) {
      throw new InvalidTransportOptionsError('natsTransport', [
        "inbound must name the stream and durable consumer to take messages from, e.g. { stream: 'EVENTS', durable: 'projection' }",
      ]);
    }
    const { js } = this.ready('subscribe');
    const consumer = await js.consumers.get(inbound.stream, inbound.durable);
    const state = { stopped: false, wake: undefined as (() => void) | undefined };
    const loop = this.pull(consumer, inbound, handler, state);
    return {
      close: async () => {
        state.stopped = true;
        state.wake?.();
        await loop;
      },
    };
  }

  private async pull(
    consumer: Consumer,
    inbound: NatsInboundOptions,
    handler: IncomingMessageHandler,
    state: { stopped: boolean; wake?: () => void },
  ): Promise<void> {
    while (!state.stopped) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (error) {
        if (state.stopped) return;
        this.logger.warn(
          `Pull from ${inbound.stream}/${inbound.durable} failed: ${errorMessage(error)}`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, PULL_ERROR_PAUSE_MS);
          state.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      if (!msg) continue;
      try {
        await handler(this.incoming(msg, inbound));
      } catch (error) {
        // The handler settles the message; if it threw anyway, JetStream redelivers after ack_wait.
        this.logger.warn(`Handling ${msg.subject} #${msg.seq} failed: ${errorMessage(error)}`);
      }
    }
  }

  private incoming(msg: JsMsg, inbound: NatsInboundOptions): IncomingMessage {
    const headers = readHeaders(msg.headers);
    const id = msg.headers?.get('Nats-Msg-Id') || `${inbound.stream}:${msg.seq}`;
    return {
      id,
      subject: msg.subject,
      headers,
      payload: new TextDecoder().decode(msg.data),
      deliveryCount: msg.info.deliveryCount,
      sequence: String(msg.seq),
      ack: async () => {
        if (!(await msg.ackAck())) throw new Error(`the server did not confirm the ack of ${id}`);
      },
      retry: async (delayMs) => msg.nak(delayMs),
      deadLetter: async (error) => {
        const { js, client } = this.ready('dead-letter');
        const h = client.core.headers();
        for (const [name, value] of Object.entries(headers)) h.set(name, value);
        h.set(INTEGRATION_HEADERS.error, oneLine(error));
        h.set(INTEGRATION_HEADERS.deliveries, String(msg.info.deliveryCount));
        h.set(INTEGRATION_HEADERS.originalSubject, msg.subject);
        h.set(INTEGRATION_HEADERS.deadLetteredAt, new Date().toISOString());
        const subject = (inbound.deadLetterSubject ?? ((s: string) => `dead-letter.${s}`))(
          msg.subject,
        );
        // One id per stream message: a redelivery of it (crash before the ack) is dropped as a
        // duplicate, while a replayed copy that fails again (a new sequence) is stored again.
        await js.publish(subject, msg.data, { msgID: `${id}:dead-letter:${msg.seq}`, headers: h });
        if (!(await msg.ackAck())) throw new Error(`the server did not confirm the ack of ${id}`);
      },
    };
  }

  private ready(operation: string): { js: JetStreamClient; client: NatsClient } {
    if (this.closed || !this.js || !this.client)
      throw new TransportClosedError(this.name, operation);
    return { js: this.js, client: this.client };
  }

  /** Closes the connection (after pending writes are flushed); idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    if (nc && !nc.isClosed()) await nc.close();
  }
}

/** A NATS JetStream transport: see {@link NatsTransport}. */
export function natsTransport(options: NatsTransportOptions = {}): NatsTransport {
  return new NatsTransport(options);
}

/** The message's headers, without JetStream's own (`Nats-*`). */
function readHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const key of h.keys()) {
    if (/^nats-/i.test(key)) continue;
    out[key] = h.get(key);
  }
  return out;
}

function oneLine(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > MAX_ERROR_HEADER ? `${line.slice(0, MAX_ERROR_HEADER)}…` : line;
}

/** JetStream's "stream not found" / "consumer not found" answers. */
function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; api_error?: { err_code?: number }; message?: unknown };
  const code = e?.api_error?.err_code;
  return (
    code === 10059 ||
    code === 10014 ||
    (typeof e?.message === 'string' && /not found/i.test(e.message))
  );
}
