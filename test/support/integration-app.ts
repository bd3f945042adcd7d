import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { PrismaPg } from '@prisma/adapter-pg';
import knexFactory, { type Knex } from 'knex';
import { Pool } from 'pg';
import { PrismaClient } from '../../src/generated/prisma/client';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationModule,
  knexAdapter,
  pgAdapter,
  prismaAdapter,
  type ConsumerOptions,
  type IntegrationDatabaseAdapter,
  type IntegrationEventHandlerFn,
  type IntegrationModuleOptions,
  type PublishEventInput,
  type RegisteredHandler,
} from '../../src/integration';

/** Which ORM the test app uses. */
export type OrmKind = 'prisma' | 'knex' | 'pg';

/** The clients of one ORM on a test database, and an adapter over them. */
export interface OrmClients {
  readonly kind: OrmKind;
  readonly prisma?: PrismaClient;
  readonly knex?: Knex;
  readonly pool?: Pool;
  readonly adapter: IntegrationDatabaseAdapter;
  close(): Promise<void>;
}

/** Creates the clients for `kind` on `url`. */
export function createOrm(kind: OrmKind, url: string): OrmClients {
  switch (kind) {
    case 'prisma': {
      const prisma = new PrismaClient({
        adapter: new PrismaPg({ connectionString: url, max: 10 }),
      });
      return {
        kind,
        prisma,
        adapter: prismaAdapter(prisma, { listenUrl: url }),
        close: () => prisma.$disconnect(),
      };
    }
    case 'knex': {
      const knex = knexFactory({
        client: 'pg',
        connection: { connectionString: url },
        pool: { min: 0, max: 10 },
      });
      return { kind, knex, adapter: knexAdapter(knex), close: () => knex.destroy() };
    }
    case 'pg': {
      const pool = new Pool({ connectionString: url, max: 10 });
      pool.on('error', () => undefined);
      return { kind, pool, adapter: pgAdapter(pool), close: () => pool.end() };
    }
  }
}

/** A Nest app with IntegrationModule on a test database. */
export interface IntegrationTestApp {
  readonly app: INestApplication;
  readonly orm: OrmClients;
  /** Closes the app, then the ORM clients. */
  close(): Promise<void>;
}

/** Boots `IntegrationModule.forRoot` (processor disabled unless asked) plus extra metadata. */
export async function createIntegrationApp(
  url: string,
  options: {
    orm?: OrmKind;
    integration?: Partial<IntegrationModuleOptions>;
    metadata?: ModuleMetadata;
  } = {},
): Promise<IntegrationTestApp> {
  const orm = createOrm(options.orm ?? 'pg', url);
  const integration = options.integration ?? {};
  const moduleRef = await Test.createTestingModule({
    ...options.metadata,
    imports: [
      IntegrationModule.forRoot({
        ...integration,
        database: integration.database ?? orm.adapter,
        processor: { enabled: false, ...integration.processor },
      }),
      ...(options.metadata?.imports ?? []),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  let closed = false;
  return {
    app,
    orm,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
      await orm.close();
    },
  };
}

/** Runs `fn` inside a transaction of the given ORM, passing its transaction handle. */
export async function inTransaction<T>(
  orm: OrmClients,
  fn: (tx: unknown) => Promise<T>,
): Promise<T> {
  if (orm.prisma) return orm.prisma.$transaction((tx) => fn(tx));
  if (orm.knex) return orm.knex.transaction((trx) => fn(trx));
  const client = await orm.pool!.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** Publishes `events` with `publishMany` in one transaction of the app's ORM; returns their ids. */
export async function publishAll(
  t: IntegrationTestApp,
  events: readonly PublishEventInput[],
): Promise<string[]> {
  const publisher = t.app.get(DomainEventPublisher);
  const ids = await inTransaction(t.orm, (tx) => publisher.publishMany(tx, events));
  return ids.map((id) => id!);
}

/** Raw SQL on a pool of its own (for assertions on rows). */
export async function withPool<T>(url: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = new Pool({ connectionString: url, max: 4 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/**
 * Registers consumer `name` (default `all`) with one handler for every event (pattern `**`): what
 * a catch-all dispatcher used to be. Register it before the processor starts or runs its first
 * batch (the processor announces the consumers of its registry then).
 */
export function registerCatchAll<TTx = unknown>(
  registry: EventSubscriberRegistry,
  handle: IntegrationEventHandlerFn<unknown, TTx> = async () => undefined,
  options: ConsumerOptions & { readonly name?: string } = {},
): RegisteredHandler {
  const { name = 'all', ...consumerOptions } = options;
  registry.registerConsumer(name, consumerOptions);
  return registry.register<unknown, TTx>({
    consumer: name,
    pattern: '**',
    name: `${name}.handle`,
    handle,
  });
}
