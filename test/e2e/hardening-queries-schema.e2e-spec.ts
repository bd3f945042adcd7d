import { Pool } from 'pg';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationSchemaCheckFailedError,
  IntegrationSchemaMissingError,
  InvalidIntegrationOptionsError,
  OutboxProcessor,
  pgAdapter,
} from '../../src/integration';
import { resolveOptions } from '../../src/integration/integration.options';
import {
  bootWithLogger as boot,
  CaptureLogger,
  closedPort,
  orderEvent as ev,
  SQL_TEXT,
  type LogLine,
} from '../support/capture-logger';
import {
  createOrm,
  type OrmClients,
  type OrmKind,
  registerCatchAll,
} from '../support/integration-app';
import { MODULE_TABLES } from '../support/schema-drift';
import { createTestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

describe('schema check at bootstrap (hardening #12)', () => {
  it.each<OrmKind>(['prisma', 'knex', 'pg'])(
    'an app on a database without the tables fails once with IntegrationSchemaMissingError and logs no SQL, with %s (hardening #12)',
    async (kind) => {
      const db = await createTestDatabase({ migrated: false });
      const orm = createOrm(kind, db.url);
      const logger = new CaptureLogger();
      try {
        const attempt = boot(orm, logger, { processor: { enabled: true } });
        await expect(attempt).rejects.toBeInstanceOf(IntegrationSchemaMissingError);
        const error = (await attempt.catch((e: unknown) => e)) as IntegrationSchemaMissingError;
        expect(error.missingTables).toEqual([...MODULE_TABLES]);
        expect(error.missingColumns).toEqual([]);
        expect(error.message).toContain(
          'missing table(s) outbox_event, inbox_event, integration_link, integration_consumer, ' +
            'integration_consumer_host, integration_delivery, integration_sequencer',
        );
        expect(error.message).toContain('npx nestjs-integration migrate --database-url');
        expect(error.message).toContain('verifySchema: false');
        expect(logger.lines.filter((l) => SQL_TEXT.test(l.message))).toEqual([]);
        // The processor never started: no claim was attempted.
        expect(logger.matching(/Outbox/)).toEqual([]);
      } finally {
        await orm.close();
        await db.drop();
      }
    },
  );

  it('names the missing table and column of a partly migrated database (hardening #12)', async () => {
    const db = await createTestDatabase();
    const orm = createOrm('pg', db.url);
    try {
      await orm.pool!.query(
        'drop table inbox_event; alter table integration_link drop column metadata',
      );
      const attempt = boot(orm, new CaptureLogger());
      await expect(attempt).rejects.toThrow(
        'missing table(s) inbox_event; missing column(s) integration_link.metadata',
      );
      const error = (await attempt.catch((e: unknown) => e)) as IntegrationSchemaMissingError;
      expect(error.missingTables).toEqual(['inbox_event']);
      expect(error.missingColumns).toEqual(['integration_link.metadata']);
    } finally {
      await orm.close();
      await db.drop();
    }
  });

  it('verifySchema: false boots without the tables; a non-boolean is refused (hardening #12)', async () => {
    const db = await createTestDatabase({ migrated: false });
    const orm = createOrm('pg', db.url);
    try {
      const t = await boot(orm, new CaptureLogger(), { verifySchema: false });
      await t.close();
      expect(() => resolveOptions({ database: orm.adapter, verifySchema: 'no' as never })).toThrow(
        InvalidIntegrationOptionsError,
      );
      expect(resolveOptions({ database: orm.adapter }).verifySchema).toBe(true);
    } finally {
      await orm.close();
      await db.drop();
    }
  });

  it('an unreachable database fails the check with IntegrationSchemaCheckFailedError in one line (hardening #12)', async () => {
    const pool = new Pool({ host: '127.0.0.1', port: await closedPort(), max: 1 });
    pool.on('error', () => undefined);
    try {
      const attempt = boot({} as OrmClients, new CaptureLogger(), { database: pgAdapter(pool) });
      await expect(attempt).rejects.toBeInstanceOf(IntegrationSchemaCheckFailedError);
      const error = (await attempt.catch((e: unknown) => e)) as IntegrationSchemaCheckFailedError;
      expect(error.reason).toMatch(/^ECONNREFUSED /);
      expect(error.message).not.toContain('\n');
    } finally {
      await pool.end();
    }
  });
});

describe('database outage after start (hardening #12)', () => {
  const failureLines = (logger: CaptureLogger): LogLine[] =>
    logger.matching(/^Outbox claim failed/);
  const delays = (lines: LogLine[]): number[] =>
    lines.map((l) => Number(/next claim in (\d+) ms$/.exec(l.message)?.[1]));

  it.each<OrmKind>(['prisma', 'knex', 'pg'])(
    'failed claims log one line each (code and message, no SQL) and back off exponentially, reset on success, with %s (hardening #12)',
    async (kind) => {
      const db = await createTestDatabase();
      const orm = createOrm(kind, db.url);
      const admin = new Pool({ connectionString: db.url, max: 1 });
      const logger = new CaptureLogger();
      const seen: string[] = [];
      const t = await boot(orm, logger, {
        notify: { enabled: false },
        processor: { enabled: false, idlePollIntervalMs: 20 },
      });
      try {
        // A catch-all consumer, registered before the processor starts (it announces it then).
        registerCatchAll(t.app.get(EventSubscriberRegistry), async (e) => void seen.push(e.id));
        await t.app.get(OutboxProcessor).start();
        const publisher = t.app.get(DomainEventPublisher);
        const first = (await publisher.publishStandalone(ev()))!;
        await waitFor(() => seen.includes(first), 10_000, 'the first event');

        await admin.query('alter table outbox_event rename to outbox_event_away');
        await waitFor(() => failureLines(logger).length >= 4, 20_000, 'four failed claims');
        const lines = failureLines(logger).slice(0, 4);
        expect(lines.map((l) => l.level)).toEqual(['error', 'error', 'error', 'error']);
        for (const [i, line] of lines.entries()) {
          expect(line.message).toMatch(
            new RegExp(
              `^Outbox claim failed \\(${i + 1} in a row\\): 42P01 relation "public\\.outbox_event" does not exist; next claim in \\d+ ms$`,
            ),
          );
        }
        // Exponential from the poll interval: one claim per step, not one per 20 ms poll.
        expect(delays(lines)).toEqual([20, 40, 80, 160]);
        expect(logger.lines.filter((l) => SQL_TEXT.test(l.message))).toEqual([]);
        expect(logger.lines.filter((l) => l.message.includes('\n'))).toEqual([]);

        await admin.query('alter table outbox_event_away rename to outbox_event');
        const second = (await publisher.publishStandalone(ev({ aggregateId: '2' })))!;
        await waitFor(() => seen.includes(second), 20_000, 'the event after the outage');
        expect(
          logger.matching(/^Outbox claims succeed again after \d+ failure\(s\)$/),
        ).toHaveLength(1);

        // A new outage starts again from the poll interval.
        const before = failureLines(logger).length;
        await admin.query('alter table outbox_event rename to outbox_event_away');
        await waitFor(() => failureLines(logger).length > before, 20_000, 'a new failed claim');
        expect(delays(failureLines(logger).slice(before, before + 1))).toEqual([20]);
        await admin.query('alter table outbox_event_away rename to outbox_event');
      } finally {
        await t.close();
        await orm.close();
        await admin.end();
        await db.drop();
      }
    },
  );

  it('an unreachable database logs one line per failed claim and per LISTEN reconnect attempt (hardening #12)', async () => {
    const port = await closedPort();
    const pool = new Pool({ host: 'localhost', port, max: 2 });
    pool.on('error', () => undefined);
    const logger = new CaptureLogger();
    const t = await boot({} as OrmClients, logger, {
      database: pgAdapter(pool),
      verifySchema: false,
      notify: { connection: { host: 'localhost', port } },
      processor: { enabled: true, idlePollIntervalMs: 20 },
    });
    try {
      await waitFor(
        () =>
          failureLines(logger).length >= 3 &&
          logger.matching(/^LISTEN connection unavailable/).length >= 2,
        20_000,
        'failed claims and LISTEN attempts',
      );
      for (const line of failureLines(logger)) {
        expect(line.message).toMatch(
          /^Outbox claim failed \(\d+ in a row\): ECONNREFUSED connect ECONNREFUSED [^\n]+; next claim in \d+ ms$/,
        );
      }
      for (const line of logger.matching(/^LISTEN connection unavailable/)) {
        expect(line.message).toMatch(
          /^LISTEN connection unavailable \(ECONNREFUSED connect ECONNREFUSED [^\n)]+\); polling continues, reconnecting in \d+ ms$/,
        );
      }
      expect(delays(failureLines(logger).slice(0, 3))).toEqual([20, 40, 80]);
    } finally {
      await t.close();
      await pool.end();
    }
  });
});
