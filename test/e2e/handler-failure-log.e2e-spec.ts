import type { PrismaClient } from '../../src/generated/prisma/client';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  OutboxProcessor,
} from '../../src/integration';
import { bootWithLogger, CaptureLogger, orderEvent, type Booted } from '../support/capture-logger';
import { createOrm, inTransaction, type OrmClients } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

type PrismaTx = Pick<PrismaClient, '$queryRawUnsafe'>;

/** A handler's failure is one log line an operator can grep; its stack is at debug level. */
describe('handler failure log line', () => {
  let db: TestDatabase;
  let orm: OrmClients;
  let booted: Booted;
  const logger = new CaptureLogger();

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm('prisma', db.url);
    booted = await bootWithLogger(orm, logger, { tracing: { enabled: false } });
  });
  afterAll(async () => {
    await booted.close();
    await orm.close();
    await db.drop();
  });

  it('logs a Prisma error (many lines) as one line with event, consumer, attempt and its first line', async () => {
    const { app } = booted;
    const registry = app.get(EventSubscriberRegistry);
    registry.registerConsumer('ledger', { retry: { maxAttempts: 1 } });
    registry.register<unknown, PrismaTx>({
      consumer: 'ledger',
      pattern: 'order.placed',
      name: 'Ledger.onPlaced',
      handle: async (_event, ctx) => {
        await ctx.tx.$queryRawUnsafe('select * from no_such_table');
      },
    });
    const id = await inTransaction(orm, (tx) =>
      app.get(DomainEventPublisher).publish(tx, orderEvent()),
    );
    await app.get(OutboxProcessor).drain();

    const failures = logger.lines.filter(
      (l) => l.level === 'warn' && l.message.includes('Ledger.onPlaced failed'),
    );
    expect(failures).toHaveLength(1);
    const [line] = failures;
    expect(line!.message).not.toMatch(/[\r\n]/);
    expect(line!.context).toBe('Consumer ledger');
    expect(line!.message).toMatch(
      new RegExp(
        `^Ledger\\.onPlaced failed on order\\.placed ${id} for ledger \\(attempt 1\\): \\S`,
      ),
    );
    // Only the first line of Prisma's message (not the "Raw query failed" detail below it).
    expect(line!.message).toContain('$queryRawUnsafe');
    expect(line!.message).not.toContain('no_such_table');
    // Prisma's code says what the cut-off lines would have said.
    expect(line!.message).toMatch(/ \[P2010\]$/);

    const stacks = logger.lines.filter(
      (l) => l.level === 'debug' && l.context === 'Consumer ledger',
    );
    expect(stacks).toHaveLength(1);
    expect(stacks[0]!.message).toContain('no_such_table');
  });
});
