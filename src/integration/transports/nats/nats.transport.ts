import { Logger } from '@nestjs/common';
import type { NatsConnection, MsgHdrs } from '@nats-io/transport-node';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
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
/** Messages of a durable consumer delivered and unacknowledged at once, unless set. */
const DEFAULT_MAX_ACK_PENDING = 64;
/** JetStream's redelivery wait unless `inbound.ackWaitMs` says otherwise. */
const DEFAULT_ACK_WAIT_MS = 30_000;
/** Added to the ack wait before pulling again, for the server's redelivery timer. */
const ACK_WAIT_MARGIN_MS = 500;

/** One subscription's pull loop. */
interface PullState {
  stopped: boolean;
  /** Messages handed over and not settled yet. */
  inHand: number;
  /** Most messages in hand at once (the durable's `max_ack_pending`). */
  readonly window: number;
  /**
   * Handed over and neither acknowledged nor given back yet (an ack sent counts as sent: the
   * server may already have it).
   */
  unacked: number;
  /** Check for unacknowledged messages this instance does not hold before the next pull. */
  recheck: boolean;
  /** False from a disconnect to the reconnection. */
  connected: boolean;
  /** The fetch in progress, closed when the subscription closes. */
  batch?: ConsumerMessages;
  /** The window is full: the loop waits for a settle. */
  full?: boolean;
  /** Ends the loop's current pause. */
  wake?: () => void;
  /** Resolves the close's wait for the messages in hand. */
  drained?: () => void;
  /** The keep-alive timers of the messages in hand (see {@link NatsTransport.incoming}). */
  readonly keepAlives: Set<NodeJS.Timeout>;
}
/** Longest header value the transport writes for an error (NATS headers are one line). */
const MAX_ERROR_HEADER = 2_000;

/**
 * NATS JetStream as an {@link IntegrationTransport}, on the official clients
 * (`@nats-io/transport-node` + `@nats-io/jetstream`, optional peers loaded at `connect`).
 *
 * - Outbound: `js.publish` to `subject(event name)` with `Nats-Msg-Id` = event id, so the
 *   stream's duplicate window drops a message the relay publishes again; resolves on the
 *   stream's acknowledgement (`PubAck`), rejects on timeout or when no stream stores the subject
 *   (and then declares the configured streams again, in case one was deleted).
 * - Inbound: a durable pull consumer (explicit acks, `max_ack_pending` 64 by default), pulled in
 *   batches that keep at most `max_ack_pending` messages in hand; after a reconnection (or at
 *   start) with unacknowledged messages it does not hold, it waits `ackWaitMs` so those come
 *   back before newer ones; `ack` waits for the server to confirm it; `retry` naks with a
 *   delay; `deadLetter` publishes a copy (headers + error; `Nats-Msg-Id` =
 *   `<id>:dead-letter:<stream sequence>`) to the dead-letter subject, waits for its
 *   acknowledgement, then acks the original. A pull that fails because the durable or its
 *   stream was deleted declares them again.
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
  private readonly pulls = new Set<PullState>();
  /** Disconnects so far (messages delivered before one may not be settled any more). */
  private disconnects = 0;
  /** The topology being declared again after a publish found no stream. */
  private declaring?: Promise<void>;

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
    await this.declare(client, nc);
  }

  /** Creates or updates the configured streams and the inbound durable consumer. */
  private async declare(client: NatsClient, nc: NatsConnection): Promise<void> {
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
        ack_wait: client.core.nanos(inbound.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
        max_ack_pending: inbound.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
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
      // Messages in flight when the connection dropped are unacknowledged on the server: the
      // pulls take nothing more from the disconnect on, and once reconnected check for them
      // before taking newer ones.
      if (status.type === 'disconnect') {
        this.disconnects++;
        for (const pull of this.pulls) pull.recheck = true;
      }
      if (status.type === 'reconnect')
        for (const pull of this.pulls) {
          pull.recheck = true;
          pull.connected = true;
          void pull.batch?.close().catch(() => undefined);
          pull.wake?.();
        }
      if (status.type === 'disconnect') for (const pull of this.pulls) pull.connected = false;
    }
  }

  /** Publishes with `Nats-Msg-Id` = message id; resolves on JetStream's acknowledgement. */
  async publish(message: OutgoingMessage): Promise<void> {
    const { js, client } = this.ready('publish');
    const headers = client.core.headers();
    for (const [name, value] of Object.entries(message.headers)) headers.set(name, value);
    const subject = (this.options.subject ?? defaultNatsSubject)(message.name);
    try {
      await js.publish(subject, message.payload, { msgID: message.id, headers });
    } catch (error) {
      // The client reports "no responders" (no stream stores the subject) as JetStream not
      // being enabled.
      if (!isNoStream(error)) throw error;
      const problem = `No JetStream stream stores subject ${subject}`;
      // A configured stream is gone (an operator deleted it): the relay retries meanwhile.
      if ((this.options.streams ?? []).length > 0) void this.declareAgain(problem);
      throw new Error(`${problem} (${errorMessage(error)})`, { cause: error });
    }
  }

  /**
   * Declares the streams and the durable consumer again, as `connect` did, after finding one
   * of them gone; one declaration at a time (callers share it). Never rejects.
   */
  private declareAgain(problem: string): Promise<void> {
    if (!this.declaring && this.client && this.nc && !this.closed) {
      this.logger.warn(`${problem}: declaring the topology again`);
      this.declaring = this.declare(this.client, this.nc)
        .catch((error: unknown) => {
          if (!this.closed)
            this.logger.warn(`Declaring the topology failed: ${errorMessage(error)}`);
        })
        .finally(() => (this.declaring = undefined));
    }
    return this.declaring ?? Promise.resolve();
  }

  /**
   * Pulls from the durable consumer of `inbound` in batches, keeping at most `maxAckPending`
   * messages of this instance unsettled. Before the first pull, and after every reconnection,
   * it asks the server how many messages the durable has unacknowledged: when that is more than
   * this instance holds (a crashed instance's, or messages lost with the connection), it waits
   * `ackWaitMs` so that JetStream redelivers them before any newer message (per-key order).
   */
  async subscribe(handler: IncomingMessageHandler): Promise<TransportSubscription> {
    const inbound = this.options.inbound;
    if (!inbound) {
      throw new InvalidTransportOptionsError('natsTransport', [
        "inbound must name the stream and durable consumer to take messages from, e.g. { stream: 'EVENTS', durable: 'projection' }",
      ]);
    }
    const { js } = this.ready('subscribe');
    const consumer = await js.consumers.get(inbound.stream, inbound.durable);
    const state: PullState = {
      stopped: false,
      inHand: 0,
      unacked: 0,
      recheck: true,
      connected: true,
      window: inbound.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
      keepAlives: new Set(),
    };
    this.pulls.add(state);
    const loop = this.pull(consumer, inbound, handler, state);
    return {
      close: async () => {
        state.stopped = true;
        state.wake?.();
        await state.batch?.close().catch(() => undefined);
        await loop;
        if (state.inHand > 0) await new Promise<void>((resolve) => (state.drained = resolve));
        for (const timer of state.keepAlives) clearInterval(timer);
        this.pulls.delete(state);
      },
    };
  }

  private async pull(
    consumer: Consumer,
    inbound: NatsInboundOptions,
    handler: IncomingMessageHandler,
    state: PullState,
  ): Promise<void> {
    while (!state.stopped) {
      if (state.recheck) {
        state.recheck = false;
        await this.awaitUnacknowledged(consumer, inbound, state);
        continue;
      }
      const room = state.window - state.inHand;
      if (room <= 0) {
        state.full = true;
        await this.sleep(state, PULL_EXPIRES_MS);
        state.full = false;
        continue;
      }
      try {
        const batch = await consumer.fetch({ max_messages: room, expires: PULL_EXPIRES_MS });
        state.batch = batch;
        for await (const msg of batch) {
          if (state.stopped) {
            // Not handed over: back to the server at once, for another instance or a restart.
            msg.nak();
            continue;
          }
          // Arrived after a reconnection, before the check: left unacknowledged, it comes back
          // after its ack wait, behind the messages lost with the connection.
          if (state.recheck) continue;
          state.inHand++;
          state.unacked++;
          try {
            await handler(this.incoming(msg, inbound, state));
          } catch (error) {
            // The handler settles the message; if it threw anyway, JetStream redelivers after ack_wait.
            this.logger.warn(`Handling ${msg.subject} #${msg.seq} failed: ${errorMessage(error)}`);
          }
        }
      } catch (error) {
        if (state.stopped) return;
        this.logger.warn(
          `Pull from ${inbound.stream}/${inbound.durable} failed: ${errorMessage(error)}`,
        );
        if (state.connected) await this.declareAgainIfGone(consumer, inbound);
        await this.sleep(state, PULL_ERROR_PAUSE_MS);
      } finally {
        state.batch = undefined;
      }
    }
  }

  /**
   * After a failed pull: when the durable consumer or its stream no longer exists (an operator
   * deleted it), declares them again as `connect` did, unless `inbound.declare` is false. A new
   * durable starts at the stream's first message: what was delivered before comes again, and
   * the inbox drops it.
   */
  private async declareAgainIfGone(consumer: Consumer, inbound: NatsInboundOptions): Promise<void> {
    try {
      await consumer.info();
      return;
    } catch (error) {
      if (!isNotFound(error)) return;
    }
    const what = `JetStream durable ${inbound.durable} of stream ${inbound.stream}`;
    if (inbound.declare === false) {
      this.logger.warn(`${what} not found, and inbound.declare is false: create it`);
      return;
    }
    await this.declareAgain(`${what} not found`);
  }

  /**
   * Waits `ackWaitMs` when the durable has more unacknowledged messages than this instance
   * holds: they come back (in stream order, before any newer message) once their ack wait ends.
   */
  private async awaitUnacknowledged(
    consumer: Consumer,
    inbound: NatsInboundOptions,
    state: PullState,
  ): Promise<void> {
    // Asked once connected: the wait must start after every message of the old connection
    // (lost, or left unacknowledged after the disconnect) was delivered.
    let pending: number | undefined;
    while (pending === undefined && !state.stopped) {
      if (!state.connected) {
        await this.sleep(state, PULL_ERROR_PAUSE_MS);
        continue;
      }
      try {
        pending = (await consumer.info()).num_ack_pending;
      } catch {
        await this.sleep(state, PULL_ERROR_PAUSE_MS);
      }
    }
    // Acks sent and not yet processed also count as pending: a needless wait at worst.
    if (pending === undefined || pending <= state.unacked || state.stopped) return;
    const waitMs = (inbound.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) + ACK_WAIT_MARGIN_MS;
    this.logger.warn(
      `${inbound.stream}/${inbound.durable} has ${pending - state.unacked} unacknowledged message(s) this instance does not hold: waiting ${waitMs} ms for their redelivery before taking newer ones`,
    );
    await this.sleep(state, waitMs);
  }

  /** Waits `ms`, or less when the subscription closes or a message is settled. */
  private sleep(state: PullState, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        state.wake = undefined;
        resolve();
      }
      state.wake = done;
    });
  }

  private incoming(msg: JsMsg, inbound: NatsInboundOptions, state: PullState): IncomingMessage {
    const headers = readHeaders(msg.headers);
    const id = msg.headers?.get('Nats-Msg-Id') || `${inbound.stream}:${msg.seq}`;
    let settled = false;
    const delivered = this.disconnects;
    // JetStream redelivers a message left unacknowledged for its ack wait, even while this
    // instance still holds it (a long handler, retries in place): until it is settled, tell the
    // server it is being worked on, three times per ack wait.
    const keepAlive = setInterval(
      () => {
        try {
          msg.working();
        } catch {
          // The connection is closed: the message comes back after its ack wait anyway.
        }
      },
      Math.max(50, Math.floor((inbound.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) / 3)),
    );
    keepAlive.unref();
    state.keepAlives.add(keepAlive);
    /** Runs a settle once; the message leaves this instance's window whatever its outcome. */
    const settle = async (action: () => Promise<void>): Promise<void> => {
      if (settled) return;
      settled = true;
      clearInterval(keepAlive);
      state.keepAlives.delete(keepAlive);
      state.unacked--;
      try {
        await action();
      } catch (error) {
        // Delivered before the connection dropped (a loss logged once): JetStream redelivers it
        // after its ack wait, so a settle that failed since is no warning of its own.
        if (this.disconnects === delivered) throw error;
        this.logger.debug(`Message ${id} left to JetStream's redelivery: ${errorMessage(error)}`);
      } finally {
        state.inHand--;
        if (state.inHand === 0) state.drained?.();
        // Room in the window: a full window's pause ends now.
        if (state.full) state.wake?.();
      }
    };
    return {
      id,
      subject: msg.subject,
      headers,
      payload: new TextDecoder().decode(msg.data),
      deliveryCount: msg.info.deliveryCount,
      sequence: String(msg.seq),
      ack: () =>
        settle(async () => {
          if (!(await msg.ackAck())) throw new Error(`the server did not confirm the ack of ${id}`);
        }),
      retry: (delayMs) => settle(async () => msg.nak(delayMs)),
      deadLetter: (error, attempts = msg.info.deliveryCount) =>
        settle(async () => {
          const { js, client } = this.ready('dead-letter');
          const h = client.core.headers();
          for (const [name, value] of Object.entries(headers)) h.set(name, value);
          h.set(INTEGRATION_HEADERS.error, oneLine(error));
          h.set(INTEGRATION_HEADERS.deliveries, String(attempts));
          h.set(INTEGRATION_HEADERS.originalSubject, msg.subject);
          h.set(INTEGRATION_HEADERS.deadLetteredAt, new Date().toISOString());
          const subject = (inbound.deadLetterSubject ?? ((s: string) => `dead-letter.${s}`))(
            msg.subject,
          );
          // One id per stream message: a redelivery of it (crash before the ack) is dropped as a
          // duplicate, while a replayed copy that fails again (a new sequence) is stored again.
          await js.publish(subject, msg.data, {
            msgID: `${id}:dead-letter:${msg.seq}`,
            headers: h,
          });
          if (!(await msg.ackAck())) throw new Error(`the server did not confirm the ack of ${id}`);
        }),
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
    await this.declaring;
    for (const pull of this.pulls) for (const timer of pull.keepAlives) clearInterval(timer);
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

/** A JetStream publish that no stream answered (the client's `JetStreamNotEnabled`). */
function isNoStream(error: unknown): boolean {
  const e = error as { name?: unknown; message?: unknown };
  return (
    e?.name === 'JetStreamNotEnabled' ||
    (typeof e?.message === 'string' && /no responders|jetstream is not enabled/i.test(e.message))
  );
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
