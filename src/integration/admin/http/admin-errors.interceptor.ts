import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  InternalServerErrorException,
  Logger,
  NotFoundException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, type Observable } from 'rxjs';
import { CrossTenantAccessError } from '../../errors/cross-tenant-access.error';
import { EventNotFoundError } from '../../errors/event-not-found.error';
import { IntegrationError } from '../../errors/integration.error';
import { ADMIN_HTTP_OPTIONS } from './admin-http.constants';
import type { ResolvedAdminHttpOptions } from './admin-http.options';

/**
 * The admin API's errors as HTTP answers: an unknown event is 404, a request for another
 * tenant than the request's context 403, any other error of this
 * library (bad input, an unknown consumer) 400 with its message, HTTP exceptions pass as they
 * are, anything else 500 with a generic message (logged here with its stack). Stacks and file
 * paths reach the client only with `exposeErrorDetails: true`.
 */
@Injectable()
export class AdminErrorsInterceptor implements NestInterceptor {
  private readonly logger = new Logger('IntegrationAdminHttp');

  constructor(@Inject(ADMIN_HTTP_OPTIONS) private readonly options: ResolvedAdminHttpOptions) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        throw this.toHttp(error);
      }),
    );
  }

  private toHttp(error: unknown): HttpException {
    if (error instanceof HttpException) return error;
    if (error instanceof IntegrationError) {
      const body = { error: error.name, message: error.message };
      if (error instanceof EventNotFoundError)
        return new NotFoundException({ statusCode: 404, ...body });
      if (error instanceof CrossTenantAccessError)
        return new ForbiddenException({ statusCode: 403, ...body });
      return new BadRequestException({ statusCode: 400, ...body });
    }
    this.logger.error(
      `Admin request failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    const details =
      this.options.exposeErrorDetails && error instanceof Error
        ? { error: error.name, detail: error.message, stack: error.stack }
        : {};
    return new InternalServerErrorException({
      statusCode: 500,
      message: 'Internal server error: the admin request failed (see the server log)',
      ...details,
    });
  }
}
