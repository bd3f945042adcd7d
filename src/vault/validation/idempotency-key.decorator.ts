import { BadRequestException, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../vault.limits';

/** Printable ASCII: what a client can put in a header unchanged and a log shows as is. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The `Idempotency-Key` header, trimmed: `undefined` when absent or blank; a 400 naming the
 * header when it is longer than {@link MAX_IDEMPOTENCY_KEY_LENGTH} or not printable ASCII.
 */
export function parseIdempotencyKey(raw: string | string[] | undefined): string | undefined {
  const value = (Array.isArray(raw) ? raw.join(', ') : (raw ?? '')).trim();
  if (value === '') return undefined;
  if (value.length > MAX_IDEMPOTENCY_KEY_LENGTH || !PRINTABLE_ASCII.test(value)) {
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: [
        `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters ` +
          `(got ${value.length} characters${PRINTABLE_ASCII.test(value) ? '' : ', some not printable ASCII'}); ` +
          'use e.g. a UUID',
      ],
    });
  }
  return value;
}

/** Route parameter decorator: the validated `Idempotency-Key` header (see {@link parseIdempotencyKey}). */
export const IdempotencyKey = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): string | undefined =>
    parseIdempotencyKey(ctx.switchToHttp().getRequest<Request>().headers['idempotency-key']),
);
