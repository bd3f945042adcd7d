import type { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createServer } from 'node:net';
import {
  IntegrationModule,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import type { OrmClients } from './integration-app';

/** One captured log call. */
export interface LogLine {
  readonly level: string;
  readonly context: string;
  readonly message: string;
}

/** A Nest logger that keeps every line (the app's logger override). */
export class CaptureLogger implements LoggerService {
  readonly lines: LogLine[] = [];
  private push(level: string, message: unknown, params: unknown[]): void {
    const context = params.length ? String(params[params.length - 1]) : '';
    this.lines.push({ level, context, message: String(message) });
  }
  log(message: unknown, ...params: unknown[]): void {
    this.push('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.push('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.push('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.push('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.push('verbose', message, params);
  }
  matching(pattern: RegExp): LogLine[] {
    return this.lines.filter((l) => pattern.test(l.message));
  }
}

/** Text that only SQL contains: a log line holding any of these dumps a statement. */
export const SQL_TEXT = /\b(SELECT|UPDATE|INSERT INTO|WITH due|FROM outbox_event|RETURNING)\b/;

export interface Booted {
  readonly app: INestApplication;
  close(): Promise<void>;
}

/**
 * Boots IntegrationModule on `orm` (processor disabled unless asked) with `logger` as the app's
 * logger, to assert on log lines; rejects when `init()` does (the app is closed then).
 */
export async function bootWithLogger(
  orm: OrmClients,
  logger: CaptureLogger,
  integration: Partial<IntegrationModuleOptions> = {},
): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      IntegrationModule.forRoot({
        ...integration,
        database: integration.database ?? orm.adapter,
        processor: { enabled: false, ...integration.processor },
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  try {
    await app.init();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return { app, close: () => app.close() };
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const orderEvent = (over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'order.placed',
  aggregateType: 'Order',
  aggregateId: '1',
  payload: {},
  ...over,
});
