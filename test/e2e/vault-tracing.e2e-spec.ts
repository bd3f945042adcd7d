import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SpanKind } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { Pool } from 'pg';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import { VAULT_LEDGER_CONSUMER } from '../../src/vault/ledger/vault-ledger.subscriber';
import { VAULT_NOTIFICATIONS_CONSUMER } from '../../src/vault/notifications/vault-notification.subscriber';
import { checkVaultConsistency } from '../support/vault-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

describe('vault app: traces through AppOptions.tracerProvider (issue 14)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: INestApplication;
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot({
          url: db.url,
          processor: { idlePollIntervalMs: 50 },
          tracerProvider: provider,
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error'] });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await provider.shutdown();
    await pool.end();
    await db.drop();
  });

  it('opening a vault gives one trace: send vault.opened, then each consumer’s process span', async () => {
    const res = await request(app.getHttpServer())
      .post('/vaults')
      .send({ ownerId: 'traced', name: 'Savings', currency: 'EUR' })
      .expect(201);
    const id = res.body.vault.id as string;
    await waitFor(
      async () => (await checkVaultConsistency(pool)).unprocessed === 0,
      15_000,
      'the outbox to drain',
    );
    // A consumer span ends once its settle is written: wait for both.
    const processSpans = (): ReadableSpan[] =>
      exporter.getFinishedSpans().filter((s) => s.name === 'process vault.opened');
    await waitFor(() => processSpans().length === 2, 5_000, 'both consumer spans');

    const [send, ...more] = exporter
      .getFinishedSpans()
      .filter((s) => s.name === 'send vault.opened');
    expect(more).toEqual([]);
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(send!.attributes).toMatchObject({
      'messaging.system': 'nestjs-integration',
      'messaging.destination.name': 'vault.opened',
      'messaging.operation.type': 'send',
    });
    const { traceId, spanId } = send!.spanContext();
    const eventId = send!.attributes['messaging.message.id'];
    const row = await pool.query<{ id: string; traceparent: string }>(
      "select id, headers->>'traceparent' as traceparent from outbox_event where aggregate_id = $1",
      [id],
    );
    expect(row.rows).toEqual([{ id: eventId, traceparent: `00-${traceId}-${spanId}-01` }]);

    const consumers = processSpans().map((s) => {
      expect(s.kind).toBe(SpanKind.CONSUMER);
      expect(s.spanContext().traceId).toBe(traceId);
      expect(s.parentSpanContext?.spanId).toBe(spanId);
      expect(s.links.map((l) => l.context.spanId)).toEqual([spanId]);
      expect(s.attributes['messaging.message.id']).toBe(eventId);
      return s.attributes['messaging.consumer.group.name'];
    });
    expect(consumers.sort()).toEqual([VAULT_LEDGER_CONSUMER, VAULT_NOTIFICATIONS_CONSUMER]);
  });
});
