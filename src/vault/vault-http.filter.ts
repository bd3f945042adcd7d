import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import {
  VaultConflictError,
  VaultError,
  VaultNotFoundError,
  VaultRuleViolationError,
} from './vault.errors';

/**
 * Maps vault domain errors to HTTP: not found 404, conflict 409, rule violation 422; the body
 * carries `field` when the error is about one request field.
 */
@Catch(VaultError)
export class VaultHttpExceptionFilter implements ExceptionFilter {
  catch(error: VaultError, host: ArgumentsHost): void {
    const status =
      error instanceof VaultNotFoundError
        ? HttpStatus.NOT_FOUND
        : error instanceof VaultConflictError
          ? HttpStatus.CONFLICT
          : error instanceof VaultRuleViolationError
            ? HttpStatus.UNPROCESSABLE_ENTITY
            : HttpStatus.INTERNAL_SERVER_ERROR;
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(status)
      .json({
        statusCode: status,
        error: error.name,
        message: error.message,
        ...(error.field ? { field: error.field } : {}),
      });
  }
}
