/**
 * The transport port: how events leave this application for a broker (the outbound relay) and
 * how broker messages come in (the inbound module). In-process delivery needs none of it.
 *
 * A transport for another broker (Kafka, SNS/SQS, a webhook) implements
 * {@link IntegrationTransport}; `docs/relays.md` walks through one.
 */

/** A message the relay hands to a transport: one outbox event, encoded. */
export interface OutgoingMessage {
  /**
   * The event id (UUIDv7): the broker's message id and deduplication key (`Nats-Msg-Id`, AMQP
   * `message-id`). A redelivered relay attempt publishes the same id again.
   */
  readonly id: string;
  /** The event name, e.g. `vault.locked`: transports derive a subject or routing key from it. */
  readonly name: string;
  /** The event's ordering key (Kafka-like brokers partition by it). */
  readonly key: string;
  /**
   * Message headers: the event's fields and its own headers (correlation, causation, tenant,
   * `traceparent`); see `INTEGRATION_HEADERS`.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The payload as JSON text. */
  readonly payload: string;
}

/**
 * A message a transport received, handed to the inbound module. The inbound module settles it
 * exactly once by calling one of `ack`, `retry` or `deadLetter`, possibly long after the
 * handler call that handed it over returned (it may hold several messages at once).
 */
export interface IncomingMessage {
  /** The broker's message id (the publishing event's id): the inbox key. */
  readonly id: string;
  /** Where it arrived (subject, queue or topic), for logs and dead letters. */
  readonly subject: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The payload as received (JSON text for messages of a relay). */
  readonly payload: string;
  /** How many times the broker has delivered it, this delivery included (1 for the first). */
  readonly deliveryCount: number;
  /** The broker's position of the message (e.g. the stream sequence), when it has one. */
  readonly sequence?: string;
  /** Settles it as done: only after the handlers' transaction committed. */
  ack(): Promise<void>;
  /**
   * Gives it back for a redelivery in `delayMs` at the earliest. The inbound module retries a
   * failed message itself (the message stays in hand, holding its key) and gives messages
   * back with `retry(0)` when it stops.
   */
  retry(delayMs: number): Promise<void>;
  /**
   * Moves it to the transport's dead-letter destination with its headers plus `error` (in the
   * `integration-error` header) and `attempts` (in `integration-deliveries`: how many times
   * the handlers ran it; the delivery count when not given), then settles the original.
   * Resolves once the broker stored it.
   */
  deadLetter(error: string, attempts?: number): Promise<void>;
}

/**
 * Called by a transport for each incoming message, in broker order. The transport awaits the
 * returned promise before handing over the next message (back-pressure), but the promise may
 * resolve before the message is settled: the inbound module takes a message on and returns, so
 * several messages can be in hand at once. The transport bounds how many by its window
 * (JetStream `max_ack_pending`, RabbitMQ `prefetch`).
 */
export type IncomingMessageHandler = (message: IncomingMessage) => Promise<void>;

/** A running subscription of a transport. */
export interface TransportSubscription {
  /**
   * Stops taking messages (no handler call after it resolves) and resolves once every message
   * handed over is settled (the inbound module settles or gives back each one as it stops).
   */
  close(): Promise<void>;
}

/**
 * A broker as seen by the relay and inbound modules. Implementations:
 * `natsTransport` (`nestjs-integration/nats`), {@link InMemoryTransport} (tests), your own.
 *
 * Contract:
 * - `connect` is called once per module that uses the transport, before anything else; it may
 *   declare topology (streams, exchanges). Make it idempotent (one shared connection).
 * - `publish` resolves only after the broker has acknowledged the message as stored; it
 *   rejects otherwise (the relay then retries it with the consumer's backoff). Publishing one
 *   id twice must be harmless downstream: dedupe by id if the broker can, else the receiving
 *   inbox does.
 * - `subscribe` (optional, for inbound) hands messages to the handler in broker order, awaiting
 *   each call before the next, keeps a message unsettled until `ack`, `retry` or `deadLetter`
 *   is called on it, and keeps at most its window of messages unsettled at once.
 * - `close` releases every resource (no open handles after it); idempotent.
 */
export interface IntegrationTransport {
  /** Short name for logs, e.g. `nats`. */
  readonly name: string;
  connect(): Promise<void>;
  publish(message: OutgoingMessage): Promise<void>;
  subscribe?(handler: IncomingMessageHandler): Promise<TransportSubscription>;
  close(): Promise<void>;
}
