import { Catch, HttpException, HttpStatus, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Response } from 'express';

/** The JSON parser's error (`http-errors` style) or Nest's exception for a body over its limit. */
function isPayloadTooLarge(exception: unknown): boolean {
  if (exception instanceof HttpException)
    return exception.getStatus() === HttpStatus.PAYLOAD_TOO_LARGE;
  return (exception as { type?: unknown } | null)?.type === 'entity.too.large';
}

/**
 * Says which part of the request was too large when the JSON parser refuses a body over its
 * size limit (413): Nest's default answer names no field. Other exceptions keep the default.
 */
@Catch()
export class PayloadTooLargeFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    if (!isPayloadTooLarge(exception)) {
      super.catch(exception, host);
      return;
    }
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(HttpStatus.PAYLOAD_TOO_LARGE)
      .json({
        statusCode: HttpStatus.PAYLOAD_TOO_LARGE,
        error: 'Payload Too Large',
        message: ['body must be at most 100 kB of JSON'],
      });
  }
}
