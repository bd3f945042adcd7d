import { Controller, Get, Injectable, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Pool } from 'pg';
import request from 'supertest';
import {
  IntegrationConsumer,
  IntegrationHealthIndicator,
  OnIntegrationEvent,
  OutboxProcessor,
  pgAdapter,
  ProcessorState,
  type IntegrationEvent,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor, type Gate } from '../support/wait-for';

/** The gate a handler waits at before returning (none: it returns at once). */
@Injectable()
class Gates {
  current?: Gate;
  /** Ids of the events a handler has entered. */
  readonly entered: string[] = [];
}

@Injectable()
@IntegrationConsumer('health-watch')
class WatchConsumer {
  constructor(private readonly gates: Gates) {}

  @OnIntegrationEvent('thing.*')
  async on(event: IntegrationEvent): Promise<void> {
    this.gates.entered.push(event.id);
    await this.gates.current?.promise;
  }
}

/** The controller the docs show (docs/observability.md, "Health"). */
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly integration: IntegrationHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.integration.isLive()]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.integration.isReady()]);
  }
}

interface HealthBody {
  status: string;
  info?: Record<string, Record<string, unknown>>;
  error?: Record<string, Record<string, unknown>>;
  details: Record<string, Record<string, unknown>>;
}

async function probe(
  app: INestApplication,
  path: 'live' | 'ready',
): Promise<{ code: number; body: HealthBody; integration: Record<string, unknown> }> {
  const res = await request(app.getHttpServer()).get(`/health/${path}`);
  const body = res.body as HealthBody;
  return { code: res.status, body, integration: body.details.integration! };
}

interface Progress {
  readonly oldestDueMs: number | null;
  readonly oldestLeaseMs: number | null;
}

type Probe = Awaited<ReturnType<typeof probe>>;

/** Probes `path` until `accept` holds (states the processor reaches in the background). */
async function probeUntil(
  app: INestApplication,
  path: 'live' | 'ready',
  accept: (probe: Probe) => boolean,
  what: string,
): Promise<Probe> {
  let last: Probe | undefined;
  await waitFor(
    async () => {
      last = await probe(app, path);
      return accept(last);
    },
    15_000,
    what,
  );
  return last!;
}

const WORKER_ID = 'health-e2e-worker';

describe('IntegrationHealthIndicator through Terminus (issue 14, acceptance 3)', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let gates: Gates;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url, {
      integration: {
        processor: { enabled: true, workerId: WORKER_ID, idlePollIntervalMs: 50 },
        health: { maxDueAgeMs: 300, maxLeaseAgeMs: 300 },
      },
      metadata: {
        imports: [TerminusModule],
        controllers: [HealthController],
        providers: [Gates, WatchConsumer],
      },
    });
    gates = t.app.get(Gates);
  });
  afterAll(async () => {
    gates?.current?.open();
    await t?.close();
    await db?.drop();
  });

  it('is ready and live while the processor runs, with what was checked in the details', async () => {
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.listening, 10_000, 'LISTEN up');
    const ready = await probe(t.app, 'ready');
    expect(ready.code).toBe(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.integration).toMatchObject({
      status: 'up',
      workerId: WORKER_ID,
      database: { status: 'up', latencyMs: expect.any(Number), timeoutMs: 1_000 },
      processor: { status: 'up', state: ProcessorState.Running },
      progress: { status: 'up', maxDueAgeMs: 300, maxLeaseAgeMs: 300 },
      listen: { status: 'up', required: false },
    });
    expect(ready.integration.problems).toBeUndefined();
    const live = await probe(t.app, 'live');
    expect(live.code).toBe(200);
    expect(live.integration).toEqual({
      status: 'up',
      workerId: WORKER_ID,
      processor: ProcessorState.Running,
    });
  });

  it('goes down while the processor is stopped and comes back when it starts; liveness stays up', async () => {
    const processor = t.app.get(OutboxProcessor);
    await processor.stop();
    const down = await probe(t.app, 'ready');
    expect(down.code).toBe(503);
    expect(down.body.status).toBe('error');
    expect(down.integration).toMatchObject({
      status: 'down',
      problems: ['processor is stopped'],
      database: { status: 'up' },
      processor: { status: 'down', state: ProcessorState.Stopped },
      progress: { status: 'skipped', reason: 'processor not running here' },
      listen: { status: 'skipped' },
    });
    const live = await probe(t.app, 'live');
    expect(live.code).toBe(200);
    expect(live.integration).toMatchObject({ status: 'up', processor: ProcessorState.Stopped });

    await processor.start();
    const up = await probeUntil(t.app, 'ready', (r) => r.code === 200, 'readiness back up');
    expect(up.integration).toMatchObject({ status: 'up', processor: { state: 'running' } });
  });

  it('goes down while a handler blocks past the threshold with a delivery waiting behind it, and comes back', async () => {
    const blocked = gate();
    gates.current = blocked;
    const [first] = await publishAll(t, [{ ...thing('1'), orderingKey: 'health-key' }]);
    await waitFor(() => gates.entered.includes(first!), 10_000, 'the first handler running');
    // Published once the first is leased, so it waits behind it: due, but not claimable.
    await publishAll(t, [{ ...thing('2'), orderingKey: 'health-key' }]);

    const down = await probeUntil(
      t.app,
      'ready',
      (r) => {
        const consumers = (r.integration.progress as { consumers?: Record<string, Progress> })
          .consumers;
        const watch = consumers?.['health-watch'];
        // Down for both reasons: the blocked batch's lease and the event waiting behind it.
        return (
          r.code === 503 && (watch?.oldestDueMs ?? 0) > 300 && (watch?.oldestLeaseMs ?? 0) > 300
        );
      },
      'readiness down for the stalled consumer',
    );
    expect(down.integration).toMatchObject({
      status: 'down',
      processor: { status: 'up' },
      progress: {
        status: 'down',
        consumers: { 'health-watch': { status: 'down', processing: 1, pending: 1 } },
      },
    });
    const problems = down.integration.problems as string[];
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^health-watch: oldest due delivery waits \d+ ms \(> 300\)$/),
        expect.stringMatching(/^health-watch: oldest lease held \d+ ms \(> 300\)$/),
      ]),
    );
    expect((await probe(t.app, 'live')).code).toBe(200);

    gates.current = undefined;
    blocked.open();
    const up = await probeUntil(
      t.app,
      'ready',
      (r) => r.code === 200,
      'readiness back up after the handler returned',
    );
    expect(up.integration).toMatchObject({
      status: 'up',
      progress: { status: 'up', consumers: { 'health-watch': { status: 'up' } } },
    });
    expect((await probe(t.app, 'live')).code).toBe(200);
  });

  it('names its LISTEN connection nestjs-integration:<workerId> in pg_stat_activity', async () => {
    await waitFor(() => t.app.get(OutboxProcessor).listening, 10_000, 'LISTEN up');
    const names = await withPool(db.url, async (pool) => {
      const { rows } = await pool.query<{ application_name: string }>(
        `SELECT application_name FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN %'`,
      );
      return rows.map((r) => r.application_name);
    });
    expect(names).toEqual([`nestjs-integration:${WORKER_ID}`]);
  });
});

describe('IntegrationHealthIndicator with processor.enabled: false', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url, {
      metadata: { imports: [TerminusModule], controllers: [HealthController] },
    });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('is ready with the processor reported disabled, not down', async () => {
    const ready = await probe(t.app, 'ready');
    expect(ready.code).toBe(200);
    expect(ready.integration).toMatchObject({
      status: 'up',
      processor: { status: 'disabled', state: ProcessorState.Stopped },
      progress: { status: 'skipped' },
      listen: { status: 'skipped' },
    });
  });
});

describe('IntegrationHealthIndicator and a LISTEN connection that cannot connect', () => {
  let db: TestDatabase;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  /** An app whose processor runs but whose LISTEN connection is refused (port 1). */
  async function appWithoutListen(requireListen: boolean): Promise<IntegrationTestApp> {
    const url = new URL(db.url);
    url.port = '1';
    const app = await createIntegrationApp(db.url, {
      integration: {
        notify: { connection: { connectionString: url.toString() } },
        processor: { enabled: true },
        health: { requireListen },
      },
      metadata: { imports: [TerminusModule], controllers: [HealthController] },
    });
    apps.push(app);
    return app;
  }

  it('reports LISTEN down but stays ready by default (polling keeps working)', async () => {
    const app = await appWithoutListen(false);
    expect(app.app.get(OutboxProcessor).state).toBe(ProcessorState.Running);
    const ready = await probe(app.app, 'ready');
    expect(ready.code).toBe(200);
    expect(ready.integration).toMatchObject({
      status: 'up',
      listen: { status: 'down', required: false },
    });
  });

  it('is not ready without LISTEN under health.requireListen', async () => {
    const app = await appWithoutListen(true);
    const ready = await probe(app.app, 'ready');
    expect(ready.code).toBe(503);
    expect(ready.integration).toMatchObject({
      status: 'down',
      problems: ['LISTEN connection lost (health.requireListen)'],
      processor: { status: 'up' },
      listen: { status: 'down', required: true },
    });
    expect((await probe(app.app, 'live')).code).toBe(200);
  });
});

describe('IntegrationHealthIndicator when the database does not answer', () => {
  let db: TestDatabase;
  let pool: Pool;
  let t: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 1 });
    pool.on('error', () => undefined);
    t = await createIntegrationApp(db.url, {
      integration: { database: pgAdapter(pool), health: { databaseTimeoutMs: 100 } },
    });
  });
  afterAll(async () => {
    await t?.close();
    await pool?.end();
    await db?.drop();
  });

  it('is not ready while SELECT 1 waits past health.databaseTimeoutMs (here: for a connection of a full pool), and ready again after', async () => {
    const health = t.app.get(IntegrationHealthIndicator);
    const held = await pool.connect();
    try {
      const result = await health.isReady();
      expect(result.integration).toMatchObject({
        status: 'down',
        problems: ['database: SELECT 1 took longer than 100 ms'],
        database: { status: 'down', timeoutMs: 100 },
        progress: { status: 'skipped', reason: 'database unavailable' },
      });
      expect((await health.isLive()).integration.status).toBe('up');
    } finally {
      held.release();
    }
    expect((await health.isReady()).integration).toMatchObject({
      status: 'up',
      database: { status: 'up' },
    });
  });
});

function thing(key: string) {
  return { name: 'thing.done', aggregateType: 'Thing', aggregateId: key, payload: { key } };
}
