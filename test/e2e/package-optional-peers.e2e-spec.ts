import type { Provider } from '@nestjs/common';
import { Pool } from 'pg';
import {
  EventSubscriberRegistry,
  IntegrationHealthIndicator,
  IntegrationModule,
  OutboxProcessor,
  type PublishEventInput,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
  registerCatchAll,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

// As in an app that never installed the optional peer: requiring it fails like Node does.
jest.mock('@nestjs/schedule', () => {
  throw Object.assign(new Error("Cannot find module '@nestjs/schedule' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

jest.mock('@nestjs/terminus', () => {
  throw Object.assign(new Error("Cannot find module '@nestjs/terminus' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

const ev = (key: string): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload: {},
});

/** Registers a catch-all consumer `all` when the app is built, before the processor starts. */
const catchAll = (onEvent: (id: string) => void): Provider => ({
  provide: 'catch-all-consumer',
  inject: [EventSubscriberRegistry],
  useFactory: (registry: EventSubscriberRegistry) =>
    registerCatchAll(registry, (event) => onEvent(event.id), { transactional: false }),
});

describe('package: optional peers (issue 12)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let t: IntegrationTestApp | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('loads, boots and delivers on its own timers when @nestjs/schedule is not installed (package #schedule)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- what the processor does
    expect(() => require('@nestjs/schedule')).toThrow(/Cannot find module '@nestjs\/schedule'/);
    expect(IntegrationModule).toBeDefined();
    const seen: string[] = [];
    t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: {
        notify: { enabled: false },
        processor: {
          enabled: true,
          startupDrain: false,
          idlePollIntervalMs: 20,
          purge: { enabled: true, intervalMs: 1_000 },
        },
      },
      metadata: { providers: [catchAll((id) => seen.push(id))] },
    });
    expect(t.app.get(OutboxProcessor).isRunning).toBe(true);
    const [id] = await publishAll(t, [ev('polled')]);
    // Neither NOTIFY nor a startup drain: only the processor's own poll timer can deliver it.
    await waitFor(() => seen.includes(id), 10_000, 'the poll timer to deliver the event');
    await waitFor(
      async () =>
        (
          await pool.query(
            "select 1 from integration_delivery where event_id = $1 and status = 'processed'",
            [id],
          )
        ).rowCount === 1,
      10_000,
      'the delivery to be settled',
    );
    const { rows } = await pool.query<{ consumer_name: string; status: string }>(
      'select consumer_name, status from integration_delivery where event_id = $1',
      [id],
    );
    expect(rows).toEqual([{ consumer_name: 'all', status: 'processed' }]);
  });

  it('reports liveness and readiness when @nestjs/terminus is not installed (issue 14, acceptance 4)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- as an app would
    expect(() => require('@nestjs/terminus')).toThrow(/Cannot find module '@nestjs\/terminus'/);
    t = await createIntegrationApp(db.url, { orm: 'pg' });
    const health = t.app.get(IntegrationHealthIndicator);
    expect(await health.isLive()).toEqual({
      integration: expect.objectContaining({ status: 'up' }),
    });
    expect(await health.isReady('outbox')).toEqual({
      outbox: expect.objectContaining({
        status: 'up',
        processor: { status: 'disabled', state: 'stopped' },
      }),
    });
  });
});
