import { INTEGRATION_METRIC_NAMES, OutboxProcessor, ProcessorState } from '../../src/integration';
import { BacklogSnapshot } from '../../src/integration/observability/backlog-snapshot';
import { VAULT_LEDGER_CONSUMER } from '../../src/vault/ledger/vault-ledger.subscriber';
import { VAULT_NOTIFICATIONS_CONSUMER } from '../../src/vault/notifications/vault-notification.subscriber';
import { checkVaultConsistency, useVaultApp } from '../support/vault-app';
import { samples } from '../support/prometheus-text';
import { waitFor } from '../support/wait-for';

/** The samples of one metric (`name` or `name{…}`), as a plain object for exact assertions. */
function metric(all: Map<string, number>, name: string): Record<string, number> {
  return Object.fromEntries([...all].filter(([key]) => key === name || key.startsWith(`${name}{`)));
}

/** Each metric's TYPE line: `name` → type. */
function types(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.slice('# TYPE '.length).split(' ') as [string, string]),
  );
}

const P = 'integration_';
const N = INTEGRATION_METRIC_NAMES;
const LEDGER = VAULT_LEDGER_CONSUMER;
const NOTIFY = VAULT_NOTIFICATIONS_CONSUMER;

interface HealthBody {
  status: string;
  details: Record<string, Record<string, unknown>>;
}

describe('vault app: /metrics, /health/live, /health/ready (issue 14)', () => {
  const vault = useVaultApp(2);
  const { http } = vault;

  it('after open, deposit, withdraw and lock, /metrics shows every metric with the workload’s values', async () => {
    const id = (
      await http()
        .post('/vaults')
        .send({ ownerId: 'metrics', name: 'Savings', currency: 'EUR' })
        .expect(201)
    ).body.vault.id as string;
    await http().post(`/vaults/${id}/deposits`).send({ amountMinor: '2500' }).expect(201);
    await http().post(`/vaults/${id}/withdrawals`).send({ amountMinor: '1000' }).expect(201);
    await http().post(`/vaults/${id}/lock`).send({ reason: 'audit' }).expect(200);
    await waitFor(
      async () => (await checkVaultConsistency(vault.pool)).unprocessed === 0,
      15_000,
      'the outbox to drain',
    );
    // The ledger's follow-up (vault-ledger.opened, the owner's first ledger) is committed with
    // its delivery: wait for it, and let the sequencer pass it (no consumer takes it).
    await waitFor(
      async () =>
        (
          await vault.pool.query(
            "select 1 from outbox_event where event_name = 'vault-ledger.opened'",
          )
        ).rowCount === 1,
      15_000,
      'the ledger follow-up',
    );
    await vault.app.get(OutboxProcessor).drain();
    // The backlog gauges are cached for 2 s: read them now, after the drain.
    await vault.app.get(BacklogSnapshot).read(0);

    const res = await http().get('/metrics').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = res.text;
    const all = samples(text);

    // Every metric of the library, under its prefix, with its type.
    expect(types(text)).toMatchObject({
      [P + N.eventsPublished]: 'counter',
      [P + N.eventsSequenced]: 'counter',
      [P + N.claims]: 'counter',
      [P + N.claimBatchSize]: 'histogram',
      [P + N.deliveries]: 'counter',
      [P + N.handlerDuration]: 'histogram',
      [P + N.timeInOutbox]: 'histogram',
      [P + N.leaseLosses]: 'counter',
      [P + N.listenerConnected]: 'gauge',
      [P + N.backlog]: 'gauge',
      [P + N.deadLetters]: 'gauge',
      [P + N.oldestDueAge]: 'gauge',
    });
    expect(Object.keys(types(text)).filter((name) => name.startsWith(P))).toHaveLength(
      Object.keys(N).length,
    );
    // Node's default metrics sit in the same registry.
    expect(all.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(types(text)).toHaveProperty('nodejs_eventloop_lag_seconds', 'gauge');

    expect(metric(all, P + N.eventsPublished)).toEqual({
      [`${P}events_published_total{event_name="vault.opened"}`]: 1,
      [`${P}events_published_total{event_name="vault.deposited"}`]: 1,
      [`${P}events_published_total{event_name="vault.withdrawn"}`]: 1,
      [`${P}events_published_total{event_name="vault.locked"}`]: 1,
      [`${P}events_published_total{event_name="vault-ledger.opened"}`]: 1,
    });
    expect(metric(all, P + N.eventsSequenced)).toEqual({ [`${P}events_sequenced_total`]: 5 });
    // The ledger takes the balance events (3), the notifications all four.
    expect(metric(all, P + N.deliveries)).toEqual({
      [`${P}deliveries_total{consumer="${LEDGER}",outcome="processed"}`]: 3,
      [`${P}deliveries_total{consumer="${NOTIFY}",outcome="processed"}`]: 4,
    });
    // Each delivery was claimed once: 7 in all, in at least one claim.
    expect(all.get(`${P}claim_batch_size_sum`)).toBe(7);
    const claims = all.get(`${P}claims_total`)!;
    expect(claims).toBeGreaterThanOrEqual(1);
    expect(all.get(`${P}claim_batch_size_count`)).toBe(claims);
    for (const [consumer, processed] of [
      [LEDGER, 3],
      [NOTIFY, 4],
    ] as const) {
      for (const histogram of [N.handlerDuration, N.timeInOutbox]) {
        const name = P + histogram;
        expect(all.get(`${name}_count{consumer="${consumer}"}`)).toBe(processed);
        expect(all.get(`${name}_bucket{consumer="${consumer}",le="+Inf"}`)).toBe(processed);
        expect(all.get(`${name}_sum{consumer="${consumer}"}`)).toBeGreaterThan(0);
      }
    }
    // Nothing lost a lease: the counter has no series yet.
    expect(metric(all, P + N.leaseLosses)).toEqual({});
    expect(metric(all, P + N.listenerConnected)).toEqual({ [`${P}listener_connected`]: 1 });
    // Drained: the scrape-time gauges read the database and find nothing waiting.
    expect(metric(all, P + N.backlog)).toEqual({
      [`${P}backlog{consumer="${LEDGER}",status="pending"}`]: 0,
      [`${P}backlog{consumer="${LEDGER}",status="processing"}`]: 0,
      [`${P}backlog{consumer="${NOTIFY}",status="pending"}`]: 0,
      [`${P}backlog{consumer="${NOTIFY}",status="processing"}`]: 0,
    });
    expect(metric(all, P + N.deadLetters)).toEqual({
      [`${P}dead_letters{consumer="${LEDGER}"}`]: 0,
      [`${P}dead_letters{consumer="${NOTIFY}"}`]: 0,
    });
    expect(metric(all, P + N.oldestDueAge)).toEqual({
      [`${P}oldest_due_age_seconds{consumer="${LEDGER}"}`]: 0,
      [`${P}oldest_due_age_seconds{consumer="${NOTIFY}"}`]: 0,
    });
  });

  it('/health/live and /health/ready answer 200 with their details; /health keeps its shape', async () => {
    const live = await http().get('/health/live').expect(200);
    expect(live.body).toEqual({
      status: 'ok',
      info: {
        integration: {
          status: 'up',
          workerId: expect.any(String),
          processor: ProcessorState.Running,
        },
      },
      error: {},
      details: expect.any(Object),
    });

    const ready = await http().get('/health/ready').expect(200);
    const body = ready.body as HealthBody;
    expect(body.status).toBe('ok');
    expect(Object.keys(body.details)).toEqual(['database', 'integration']);
    expect(body.details.database).toEqual({ status: 'up', latencyMs: expect.any(Number) });
    expect(body.details.integration).toMatchObject({
      status: 'up',
      workerId: expect.any(String),
      database: { status: 'up' },
      processor: { status: 'up', state: ProcessorState.Running },
      progress: {
        status: 'up',
        consumers: {
          [LEDGER]: expect.objectContaining({ status: 'up', pending: 0, deadLetter: 0 }),
          [NOTIFY]: expect.objectContaining({ status: 'up', pending: 0, deadLetter: 0 }),
        },
      },
      listen: { status: 'up', required: false },
    });
    expect(body.details.integration).not.toHaveProperty('problems');

    const legacy = await http().get('/health').expect(200);
    expect(legacy.body).toEqual({
      status: 'ok',
      database: { status: 'up', latencyMs: expect.any(Number) },
    });
  });

  it('with the processor stopped, /health/ready answers 503 and /health/live 200; ready again after start', async () => {
    const processor = vault.app.get(OutboxProcessor);
    await processor.stop();
    try {
      const ready = await http().get('/health/ready').expect(503);
      const body = ready.body as HealthBody & { error: Record<string, Record<string, unknown>> };
      expect(body.status).toBe('error');
      expect(body.details.database).toMatchObject({ status: 'up' });
      expect(body.error.integration).toMatchObject({
        status: 'down',
        problems: ['processor is stopped'],
        processor: { status: 'down', state: ProcessorState.Stopped },
        progress: { status: 'skipped' },
      });

      const live = await http().get('/health/live').expect(200);
      expect(live.body.info.integration).toMatchObject({
        status: 'up',
        processor: ProcessorState.Stopped,
      });
      // The database check alone is unaffected.
      await http().get('/health').expect(200);
    } finally {
      await processor.start();
    }
    await http().get('/health/ready').expect(200);
  });
});
