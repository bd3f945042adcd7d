import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import { ProjectionAppModule } from '../../src/projection/projection-app.module';
import { VAULT_PROJECTION_CONSUMER } from '../../src/projection/projection.constants';
import { bootstrapProjectionDatabase } from '../../src/projection/projection-database';
import {
  VAULT_NATS_RELAY_CONSUMER,
  type VaultNatsOptions,
} from '../../src/vault/relay/vault-relay';
import { NATS_URL, requireBroker } from '../support/brokers';
import { withPool } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/**
 * The two-service demo (README "Two services"): the vault app relays its events to NATS, the
 * projection app takes them into its own database and serves them over HTTP.
 */
describe('two services: the vault app relays to NATS, the projection app takes its events in (issue 17)', () => {
  let vaultDb: TestDatabase;
  let projectionDb: TestDatabase;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let nats: VaultNatsOptions;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    await requireBroker('NATS', NATS_URL);
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    const tag = randomBytes(4).toString('hex');
    nats = { servers: NATS_URL, stream: `VT_${tag}`, subjectPrefix: `vt${tag}` };
    // The projection's database starts empty: its bootstrap creates the tables it needs.
    [vaultDb, projectionDb] = await Promise.all([
      createTestDatabase(),
      createTestDatabase({ migrated: false }),
    ]);
    await bootstrapProjectionDatabase({ databaseUrl: projectionDb.url });
  });
  afterAll(async () => {
    while (apps.length) await apps.pop()!.close();
    for (const stream of [nats?.stream, `${nats?.stream}_DEAD_LETTERS`])
      await jsm?.streams.delete(stream!).catch(() => undefined);
    await nc?.close();
    await vaultDb?.drop();
    await projectionDb?.drop();
  });

  async function start(module: Parameters<typeof Test.createTestingModule>[0]) {
    const moduleRef = await Test.createTestingModule(module).compile();
    const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    await app.init();
    apps.push(app);
    return app;
  }

  it('vaults opened over the vault API show up in the projection API exactly once, with their balances, also across a restart of the projection app', async () => {
    const projection = await start({
      imports: [ProjectionAppModule.forRoot({ url: projectionDb.url, nats })],
    });
    const vault = await start({
      imports: [
        AppModule.forRoot({ url: vaultDb.url, processor: { idlePollIntervalMs: 50 }, nats }),
      ],
    });
    const vaultApi = () => request(vault.getHttpServer());
    const projectionApi = () => request(projection.getHttpServer());

    const owners = { ada: 3, bob: 2, cy: 1 };
    const opened: Record<string, string[]> = {};
    for (const [owner, count] of Object.entries(owners)) {
      for (let i = 0; i < count; i++) {
        const res = await vaultApi()
          .post('/vaults')
          .send({ ownerId: owner, name: `vault ${i}`, currency: 'EUR' })
          .expect(201);
        (opened[owner] ??= []).push(res.body.vault.id as string);
      }
    }
    // Money moves on two of ada's vaults; one of bob's is locked.
    await vaultApi()
      .post(`/vaults/${opened.ada![0]}/deposits`)
      .send({ amountMinor: '1500' })
      .expect(201);
    await vaultApi()
      .post(`/vaults/${opened.ada![1]}/deposits`)
      .send({ amountMinor: '700' })
      .expect(201);
    await vaultApi()
      .post(`/vaults/${opened.ada![1]}/withdrawals`)
      .send({ amountMinor: '200' })
      .expect(201);
    await vaultApi().post(`/vaults/${opened.bob![0]}/lock`).send({ reason: 'audit' }).expect(200);
    const events = 6 + 4;

    const ada = await waitFor(
      async () => {
        const res = await projectionApi().get('/projection/owners/ada');
        return res.status === 200 && res.body.vaults[1]?.balanceMinor === '500'
          ? res.body
          : undefined;
      },
      30_000,
      "ada's vaults and balances in the projection",
    );
    expect(ada).toMatchObject({ ownerId: 'ada', vaultsOpened: 3, balances: { EUR: '2000' } });
    expect(ada.vaults).toHaveLength(3);

    // Every event relayed once and applied once: the relay's deliveries are processed, each
    // event is one stream message and one inbox row, each owner's count is its vaults.
    await waitFor(
      () =>
        withPool(projectionDb.url, async (pool) => {
          const { rows } = await pool.query<{ n: number }>(
            `select count(*)::int as n from inbox_event where consumer_name = $1 and status = 'processed'`,
            [VAULT_PROJECTION_CONSUMER],
          );
          return rows[0]!.n === events;
        }),
      30_000,
      'every event in the projection inbox',
    );
    await withPool(vaultDb.url, async (pool) => {
      const { rows } = await pool.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from integration_delivery where consumer_name = $1 group by status`,
        [VAULT_NATS_RELAY_CONSUMER],
      );
      expect(rows).toEqual([{ status: 'processed', n: events }]);
    });
    expect((await jsm.streams.info(nats.stream!)).state.messages).toBe(events);
    const bob = (await projectionApi().get('/projection/owners/bob').expect(200)).body;
    expect(bob).toMatchObject({ vaultsOpened: 2, balances: { EUR: '0' } });
    expect(bob.vaults.map((v: { status: string }) => v.status).sort()).toEqual(['locked', 'open']);
    expect((await projectionApi().get('/projection/owners/cy').expect(200)).body).toMatchObject({
      vaultsOpened: 1,
    });
    await projectionApi().get('/projection/owners/nobody').expect(404);
    await withPool(projectionDb.url, async (pool) => {
      const { rows } = await pool.query<{ owner_id: string; vaults_opened: number }>(
        'select owner_id, vaults_opened from projection_owner order by owner_id',
      );
      expect(rows).toEqual([
        { owner_id: 'ada', vaults_opened: 3 },
        { owner_id: 'bob', vaults_opened: 2 },
        { owner_id: 'cy', vaults_opened: 1 },
      ]);
    });

    // The projection app stops; vaults opened meanwhile arrive once it is back, once each.
    apps.splice(apps.indexOf(projection), 1);
    await projection.close();
    for (let i = 3; i < 5; i++) {
      await vaultApi()
        .post('/vaults')
        .send({ ownerId: 'ada', name: `vault ${i}`, currency: 'EUR' })
        .expect(201);
    }
    const restarted = await start({
      imports: [ProjectionAppModule.forRoot({ url: projectionDb.url, nats })],
    });
    const later = await waitFor(
      async () => {
        const res = await request(restarted.getHttpServer()).get('/projection/owners/ada');
        return res.body.vaults?.length === 5 ? res.body : undefined;
      },
      30_000,
      "ada's two new vaults after the restart",
    );
    expect(later).toMatchObject({ vaultsOpened: 5, balances: { EUR: '2000' } });
    await waitFor(
      () =>
        withPool(projectionDb.url, async (pool) => {
          const { rows } = await pool.query<{ n: number }>(
            'select count(*)::int as n from inbox_event where consumer_name = $1',
            [VAULT_PROJECTION_CONSUMER],
          );
          return rows[0]!.n === events + 2;
        }),
      30_000,
      'the two new events in the projection inbox',
    );
    expect((await jsm.streams.info(nats.stream!)).state.messages).toBe(events + 2);
  });
});
