import { Injectable, type NestMiddleware, type Type } from '@nestjs/common';
import { INTEGRATION_CONTEXT_CLS_KEY, IntegrationContext } from './integration-context';
import {
  readRequestContext,
  type RequestContextOptions,
  type RequestLike,
  type ResponseLike,
} from './request-context';

/**
 * A Nest middleware that runs each request in the {@link IntegrationContext} read from its
 * headers (`x-correlation-id`, `x-tenant-id`, `traceparent`, see {@link RequestContextOptions}),
 * so what the request publishes carries its tenant and correlation id. Opt-in:
 *
 * ```ts
 * export class AppModule implements NestModule {
 *   configure(consumer: MiddlewareConsumer) {
 *     consumer.apply(integrationContextMiddleware({ generateCorrelationId: true })).forRoutes('*');
 *   }
 * }
 * ```
 *
 * With nestjs-cls's own middleware (`context.cls`), use {@link integrationClsSetup} instead.
 */
export function integrationContextMiddleware(
  options: RequestContextOptions = {},
): Type<NestMiddleware> {
  @Injectable()
  class IntegrationContextMiddleware implements NestMiddleware {
    constructor(private readonly context: IntegrationContext) {}

    use(request: RequestLike, response: ResponseLike, next: (error?: unknown) => void): void {
      // An invalid tenant throws: Nest answers 400 through its exception filters.
      const values = readRequestContext(request, response, options);
      this.context.run(values, () => next());
    }
  }
  return IntegrationContextMiddleware;
}

/**
 * A `setup` for nestjs-cls's middleware (option `context.cls`): stores the request's context
 * (read as {@link integrationContextMiddleware} does) where `IntegrationContext` reads it.
 *
 * ```ts
 * ClsModule.forRoot({ global: true, middleware: { mount: true, setup: integrationClsSetup() } })
 * ```
 */
export function integrationClsSetup(
  options: RequestContextOptions = {},
): (
  cls: { set(key: string, value: unknown): void },
  request: RequestLike,
  response: ResponseLike,
) => void {
  return (cls, request, response) => {
    cls.set(INTEGRATION_CONTEXT_CLS_KEY, readRequestContext(request, response, options));
  };
}
