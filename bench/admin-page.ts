/**
 * `npm run bench:admin-page`: issue 15, acceptance 5 (second half). With 100,000 dead letters
 * (20,000 events × 5 consumers, seeded by SQL), an app serving `IntegrationAdminModule`:
 *
 * - the list endpoint's latency over HTTP (p50/p95/max), for the first page, a consumer
 *   filter, an event-name filter, a correlation id, and the next page by cursor; target p95 < 50 ms;
 * - the dashboard's first render in Debian's headless chromium: from navigation to the
 *   dead-letter list rendered; target < 1 s.
 *
 * PostgreSQL: embedded (durability on) or `DATABASE_URL`. Writes bench/results/admin-page.json.
 */
import 'reflect-metadata';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Pool } from 'pg';
import { IntegrationAdminModule, IntegrationModule, pgAdapter } from '../src/integration';
import { launchChromium } from './lib/chromium';
import { BenchServer } from './lib/server';
import { percentiles } from './lib/stats';

const EVENTS = 20_000;
const CONSUMERS = ['mailer', 'crm', 'billing', 'search', 'audit'];
const TOKEN = 'bench-token';
const REQUESTS_PER_QUERY = 60;
const RENDERS = 10;

async function seed(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload,
                               correlation_id, created_at)
     SELECT gen_random_uuid(), 'order.' || (array['placed','paid','shipped','cancelled'])[1 + i % 4],
            'Order', 'o-' || i, 'o-' || i, jsonb_build_object('n', i), 'corr-' || (i / 10),
            now() - make_interval(secs => $1 - i)
       FROM generate_series(1, $1) i`,
    [EVENTS],
  );
  await pool.query(
    `INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status,
                                       attempt_count, last_error, created_at, updated_at)
     SELECT e.id, c, e.seq, e.ordering_key, 'dead_letter', 5, 'Error: upstream answered 503',
            e.created_at, e.created_at + interval '1 minute'
       FROM outbox_event e, unnest($1::text[]) c`,
    [CONSUMERS],
  );
  await pool.query('ANALYZE');
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const server = await BenchServer.start();
  const db = await server.createDatabase('admin_page');
  const pool = new Pool({ connectionString: db.url, max: 4 });
  let app: INestApplication | undefined;
  try {
    console.log(`seeding ${EVENTS * CONSUMERS.length} dead letters on ${server.description}`);
    await seed(pool);

    @Module({
      imports: [
        IntegrationModule.forRoot({ database: pgAdapter(pool), processor: { enabled: false } }),
        IntegrationAdminModule.register({
          guard: {
            canActivate: (context) =>
              context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers
                .authorization === `Bearer ${TOKEN}`,
          },
        }),
      ],
    })
    class BenchAppModule {}
    app = await NestFactory.create(BenchAppModule, { logger: ['error', 'warn'] });
    await app.listen(0, '127.0.0.1');
    const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const get = async (query: string): Promise<{ nextCursor: string | null }> => {
      const res = await fetch(`${base}/admin/api/deliveries?${query}`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      if (!res.ok) throw new Error(`${query}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { nextCursor: string | null };
    };

    const first = await get('limit=50');
    const queries: Record<string, string> = {
      'first page': 'limit=50',
      consumer: 'consumer=billing&limit=50',
      'event name': 'eventName=order.paid&limit=50',
      'consumer + event name': 'consumer=crm&eventName=order.shipped&limit=50',
      'correlation id': 'correlationId=corr-777&limit=50',
      'next page (cursor)': `limit=50&after=${encodeURIComponent(first.nextCursor ?? '')}`,
    };
    const endpoint: Record<string, ReturnType<typeof percentiles>> = {};
    const all: number[] = [];
    for (const [label, query] of Object.entries(queries)) {
      for (let i = 0; i < 5; i++) await get(query); // warm-up
      const samples: number[] = [];
      for (let i = 0; i < REQUESTS_PER_QUERY; i++) samples.push(await timed(() => get(query)));
      endpoint[label] = percentiles(samples);
      all.push(...samples);
    }
    endpoint.all = percentiles(all);

    const browser = await launchChromium();
    const renders: number[] = [];
    try {
      for (let i = 0; i <= RENDERS; i++) {
        const page = await browser.context.newPage();
        const ms = await timed(async () => {
          await page.goto(`${base}/admin/#token=${TOKEN}`);
          await page.locator('#view tbody tr').nth(49).waitFor();
        });
        if (i > 0) renders.push(ms); // the first one warms the server and the browser
        await page.close();
      }
    } finally {
      await browser.close();
    }
    const firstRender = percentiles(renders);

    const result = {
      at: new Date().toISOString(),
      database: server.description,
      deadLetters: EVENTS * CONSUMERS.length,
      listEndpointMs: endpoint,
      firstRenderMs: firstRender,
      targets: {
        'list endpoint p95 < 50 ms': endpoint.all.p95 < 50,
        'first render (p95 of 10) < 1000 ms': firstRender.p95 < 1000,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    await writeFile(
      path.join(__dirname, '..', '..', 'bench', 'results', 'admin-page.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await app?.close();
    await pool.end();
    await server.dropDatabase(db);
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
