import { BadRequestException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { MAX_TEXT_FIELD_LENGTH, unstorableStringReason } from '../events/event-validation';
import type { IntegrationContextValues } from './integration-context';

/** The part of an HTTP request (Express, Fastify's raw request) the context is read from. */
export interface RequestLike {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** The part of an HTTP response the correlation id is echoed on. */
export interface ResponseLike {
  setHeader(name: string, value: string): unknown;
}

/**
 * How {@link integrationContextMiddleware} and {@link integrationClsSetup} read a request's
 * context. Header names are case-insensitive.
 */
export interface RequestContextOptions {
  /** Header of the correlation id. @default 'x-correlation-id' */
  readonly correlationHeader?: string;
  /** Header of the tenant. @default 'x-tenant-id' */
  readonly tenantHeader?: string;
  /** Header of the actor (user or service); none is read without it. @default undefined */
  readonly actorHeader?: string;
  /**
   * When no correlation id is given, use the trace id of the W3C `traceparent` header, so a
   * request's events correlate with its trace. @default true
   */
  readonly correlationFromTraceparent?: boolean;
  /**
   * When the request brings no correlation id: `true` generates a UUID, a function returns
   * one; `false` leaves the correlation unset. @default false
   */
  readonly generateCorrelationId?: boolean | (() => string);
  /** Set the correlation id in effect as the response's correlation header. @default true */
  readonly echoCorrelationId?: boolean;
  /**
   * Values of your own (e.g. the tenant from the authenticated user), over those of the
   * headers; `undefined` entries keep the header's.
   */
  readonly resolve?: (request: RequestLike) => IntegrationContextValues | undefined;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/**
 * The context of one request, and the echo of its correlation id on the response.
 * @throws BadRequestException (HTTP 400) for an invalid tenant header: a request is never run
 *   in another tenant's context (nor in none) because its tenant could not be read. An invalid
 *   correlation id is ignored (then generated or left unset).
 */
export function readRequestContext(
  request: RequestLike,
  response: ResponseLike | undefined,
  options: RequestContextOptions = {},
): IntegrationContextValues {
  const correlationHeader = options.correlationHeader ?? 'x-correlation-id';
  const tenantHeader = options.tenantHeader ?? 'x-tenant-id';
  const tenant = header(request, tenantHeader);
  if (tenant !== undefined && !valid(tenant)) {
    throw new BadRequestException(
      `${tenantHeader} must be 1 to ${MAX_TEXT_FIELD_LENGTH} printable characters`,
    );
  }
  const given = header(request, correlationHeader);
  let correlationId = given !== undefined && valid(given) ? given : undefined;
  if (correlationId === undefined && options.correlationFromTraceparent !== false) {
    correlationId = TRACEPARENT.exec(header(request, 'traceparent') ?? '')?.[1];
  }
  const generate = options.generateCorrelationId ?? false;
  if (correlationId === undefined && generate) {
    correlationId = generate === true ? randomUUID() : generate();
  }
  const actor = options.actorHeader ? header(request, options.actorHeader) : undefined;
  const values: IntegrationContextValues = {
    ...(tenant !== undefined ? { tenantId: tenant } : {}),
    ...(correlationId !== undefined ? { correlationId } : {}),
    ...(actor !== undefined && valid(actor) ? { actor } : {}),
  };
  const resolved = options.resolve?.(request) ?? {};
  const merged: Record<string, string | null> = { ...values };
  for (const [key, value] of Object.entries(resolved) as [string, string | null | undefined][])
    if (value !== undefined) merged[key] = value;
  if (response && options.echoCorrelationId !== false && merged.correlationId)
    response.setHeader(correlationHeader, merged.correlationId);
  return merged;
}

/** A header's value (the first of repeated ones), trimmed; `undefined` when absent or blank. */
function header(request: RequestLike, name: string): string | undefined {
  const raw = request.headers[name.toLowerCase()];
  const value = (Array.isArray(raw) ? raw[0] : raw) as string | undefined;
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function valid(value: string): boolean {
  return value.length <= MAX_TEXT_FIELD_LENGTH && !unstorableStringReason(value);
}
