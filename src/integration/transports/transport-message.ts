import { InvalidIncomingMessageError } from '../errors/invalid-incoming-message.error';
import type { IntegrationEvent, IntegrationEventHeaders } from '../events/integration-event';
import type { IncomingMessage, OutgoingMessage } from './integration-transport';
import { INTEGRATION_HEADERS as H } from './transport-headers';

/** Headers whose names start with this carry event fields, not the event's own headers. */
const RESERVED_PREFIX = 'integration-';

/**
 * Encodes an outbox event as a broker message: its id as the message id, its fields and own
 * headers as message headers, its payload as JSON text.
 */
export function toOutgoingMessage(event: IntegrationEvent): OutgoingMessage {
  const headers: Record<string, string> = {};
  // The event's own headers first, so that the fields below cannot be shadowed by them.
  for (const [name, value] of Object.entries(event.headers)) {
    if (typeof value === 'string' && !name.startsWith(RESERVED_PREFIX)) headers[name] = value;
  }
  headers[H.eventId] = event.id;
  headers[H.eventName] = event.name;
  headers[H.eventVersion] = String(event.version);
  headers[H.aggregateType] = event.aggregateType;
  headers[H.aggregateId] = event.aggregateId;
  headers[H.orderingKey] = event.orderingKey;
  headers[H.createdAt] = event.createdAt.toISOString();
  if (event.sourceModule !== null) headers[H.sourceModule] = event.sourceModule;
  if (event.tenantId !== null) headers[H.tenantId] = event.tenantId;
  if (event.correlationId !== null) headers[H.correlationId] = event.correlationId;
  if (event.causationId !== null) headers[H.causationId] = event.causationId;
  if (event.idempotencyKey !== null) headers[H.idempotencyKey] = event.idempotencyKey;
  return {
    id: event.id,
    name: event.name,
    key: event.orderingKey,
    headers,
    payload: JSON.stringify(event.payload),
  };
}

/**
 * Decodes a broker message written by {@link toOutgoingMessage} back into the event handlers
 * receive: its id is the `integration-event-id` header, else the message id; `seq` is the
 * broker's sequence when it has one, else `'0'`.
 * @throws InvalidIncomingMessageError without an event-name header or with a non-JSON payload.
 */
export function toIntegrationEvent(message: IncomingMessage): IntegrationEvent {
  const h = message.headers;
  const name = h[H.eventName];
  if (!name) {
    throw new InvalidIncomingMessageError(
      message.id,
      message.subject,
      `it has no ${H.eventName} header`,
    );
  }
  let payload: unknown;
  try {
    payload = JSON.parse(message.payload);
  } catch (error) {
    throw new InvalidIncomingMessageError(
      message.id,
      message.subject,
      `its payload is not JSON (${(error as Error).message})`,
    );
  }
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(h)) {
    if (!key.startsWith(RESERVED_PREFIX)) own[key] = value;
  }
  const version = Number(h[H.eventVersion] ?? '1');
  const createdAt = h[H.createdAt] ? new Date(h[H.createdAt]) : new Date();
  const aggregateType = h[H.aggregateType] ?? '';
  const aggregateId = h[H.aggregateId] ?? '';
  return {
    id: h[H.eventId] || message.id,
    seq: message.sequence ?? '0',
    name,
    version: Number.isInteger(version) ? version : 1,
    sourceModule: h[H.sourceModule] ?? null,
    aggregateType,
    aggregateId,
    orderingKey: h[H.orderingKey] ?? `${aggregateType}:${aggregateId}`,
    payload,
    headers: own as IntegrationEventHeaders,
    tenantId: h[H.tenantId] ?? null,
    correlationId: h[H.correlationId] ?? null,
    causationId: h[H.causationId] ?? null,
    idempotencyKey: h[H.idempotencyKey] ?? null,
    createdAt: Number.isNaN(createdAt.getTime()) ? new Date() : createdAt,
  };
}
