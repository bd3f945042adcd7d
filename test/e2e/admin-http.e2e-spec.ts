import {
  Injectable,
  Module,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Pool } from 'pg';
import request from 'supertest';
import {
  EventSubscriberRegistry,
  IntegrationAdminModule,
  InvalidAdminModuleOptionsError,
  OutboxProcessor,
  type AdminHttpRequest,
} from '../../src/integration';
import { thingEvent } from '../support/effect-fixture';
import {
  createIntegrationApp,
  publishAll,
  registerCatchAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The tokens a test operator presents; a provider, so the guard class gets it by injection. */
class OperatorDirectory {
  readonly users: Readonly<Record<string, { name: string; write: boolean }>> = {
    'token-alice': { name: 'alice', write: true },
    'token-bob': { name: 'bob', write: false },
  };
}

@Module({ providers: [OperatorDirectory], exports: [OperatorDirectory] })
class OperatorsModule {}

type OperatorRequest = AdminHttpRequest & { operator?: { name: string; write: boolean } };

@Injectable()
class OperatorGuard implements CanActivate {
  constructor(private readonly directory: OperatorDirectory) {}
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<OperatorRequest>();
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const operator = this.directory.users[token];
    if (!operator) throw new UnauthorizedException('who are you?');
    req.operator = operator;
    return true;
  }
}

/** Answers false (Nest's 403) for readers. */
const writersOnly: CanActivate = {
  canActivate: (context) => context.switchToHttp().getRequest<OperatorRequest>().operator!.write,
};

const EVENT_ID = '01890a5d-ac96-774b-bcce-b302099a8057';

/** Every admin endpoint, with a body the write actions accept. */
const ENDPOINTS: ReadonlyArray<readonly ['get' | 'post', string, object?]> = [
  ['get', 'api/overview'],
  ['get', 'api/events'],
  ['get', 'api/events/count'],
  ['get', `api/events/${EVENT_ID}`],
  ['get', 'api/deliveries'],
  ['get', 'api/deliveries/count'],
  ['get', 'api/audit'],
  ['post', `api/events/${EVENT_ID}/replay`, {}],
  ['post', `api/events/${EVENT_ID}/deliveries/mailer/replay`, {}],
  ['post', `api/events/${EVENT_ID}/deliveries/mailer/discard`, { reason: 'r' }],
  ['post', 'api/deliveries/replay', { filter: {}, dryRun: true }],
  ['post', 'api/deliveries/discard', { filter: {}, reason: 'r', dryRun: true }],
  ['post', 'api/dead-letters/purge', { olderThan: '2000-01-01T00:00:00Z', reason: 'r' }],
];

describe('IntegrationAdminModule (HTTP)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let t: IntegrationTestApp;
  let failing = true;
  const http = () => request(t.app.getHttpServer());
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    t = await createIntegrationApp(db.url, {
      metadata: {
        imports: [
          IntegrationAdminModule.register({
            path: '/ops/integration/',
            guard: OperatorGuard,
            writeGuard: writersOnly,
            imports: [OperatorsModule],
            actor: (req) => `user:${(req as OperatorRequest).operator?.name}`,
          }),
        ],
      },
    });
    const registry = t.app.get(EventSubscriberRegistry);
    const fail = async (): Promise<void> => {
      if (failing) throw new Error('smtp down');
    };
    registerCatchAll(registry, fail, { name: 'mailer', retry: { maxAttempts: 1 } });
    registerCatchAll(registry, fail, { name: 'ledger', retry: { maxAttempts: 1 } });
  });
  afterAll(async () => {
    await t?.close();
    await pool?.end();
    await db?.drop();
  });

  describe('register()', () => {
    it('refuses to start without a guard, saying how to give one', () => {
      const register = () =>
        IntegrationAdminModule.register(
          {} as Parameters<typeof IntegrationAdminModule.register>[0],
        );
      expect(register).toThrow(InvalidAdminModuleOptionsError);
      expect(register).toThrow(/guard is required: pass the CanActivate class or instance/);
      expect(() =>
        IntegrationAdminModule.register(
          undefined as unknown as Parameters<typeof IntegrationAdminModule.register>[0],
        ),
      ).toThrow(/needs an options object with a guard/);
    });

    it('names every invalid option', () => {
      let error: unknown;
      try {
        IntegrationAdminModule.register({
          guard: { nope: true } as unknown as CanActivate,
          writeGuard: 'admin' as unknown as CanActivate,
          path: 'a b',
          actor: 'me' as unknown as () => string,
          exposeErrorDetails: 'yes' as unknown as boolean,
          imports: {} as unknown as [],
          gaurd: OperatorGuard,
        } as Parameters<typeof IntegrationAdminModule.register>[0]);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidAdminModuleOptionsError);
      expect((error as InvalidAdminModuleOptionsError).problems).toEqual([
        expect.stringContaining('gaurd is not an option: did you mean guard?'),
        expect.stringContaining('guard must be a CanActivate class'),
        expect.stringContaining('writeGuard must be a CanActivate class'),
        expect.stringContaining('path must be URL path segments'),
        expect.stringContaining('actor must be a function'),
        expect.stringContaining('exposeErrorDetails must be true or false'),
        expect.stringContaining('imports must be an array'),
      ]);
    });
  });

  describe('the dashboard page', () => {
    it('is served at the path, with and without the slash, under a self-only CSP and no data', async () => {
      for (const path of ['/ops/integration', '/ops/integration/']) {
        const res = await http().get(path).expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.headers['content-security-policy']).toContain("default-src 'self'");
        expect(res.headers['content-security-policy']).toContain("script-src 'self'");
        expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
        expect(res.text).toContain('<base href="/ops/integration/" />');
        expect(res.text).toContain('<script src="dashboard.js" defer></script>');
        expect(res.text).not.toMatch(/<script>|style=/);
      }
      const js = await http().get('/ops/integration/dashboard.js').expect(200);
      expect(js.headers['content-type']).toMatch(/^text\/javascript/);
      expect(js.text).toContain('Authorization: `Bearer ${token}`');
      const css = await http().get('/ops/integration/dashboard.css').expect(200);
      expect(css.headers['content-type']).toMatch(/^text\/css/);
    });
  });

  describe('guards', () => {
    it('every endpoint answers 401 without a token, and reaches the service with one', async () => {
      for (const [method, path, body] of ENDPOINTS) {
        const res = await http()[method](`/ops/integration/${path}`).send(body);
        expect([method, path, res.status]).toEqual([method, path, 401]);
      }
    });

    it('a reader may read, and every write action answers 403', async () => {
      for (const [method, path, body] of ENDPOINTS) {
        const res = await http()
          [method](`/ops/integration/${path}`)
          .set(as('token-bob'))
          .send(body);
        const expected = method === 'post' ? 403 : path.startsWith('api/events/0') ? 404 : 200;
        expect([method, path, res.status]).toEqual([method, path, expected]);
      }
    });
  });

  describe('errors', () => {
    it('bad input is 400 with the typed error and its fix, an unknown event 404; no stack', async () => {
      const misspelt = await http()
        .get('/ops/integration/api/deliveries?consumr=mailer')
        .set(as('token-alice'))
        .expect(400);
      expect(misspelt.body).toEqual({
        statusCode: 400,
        error: 'InvalidQueryError',
        message: expect.stringContaining(
          "query.consumr is not a known key (did you mean 'consumer'?)",
        ),
      });
      const twice = await http()
        .get('/ops/integration/api/events?eventName=a&eventName=b')
        .set(as('token-alice'))
        .expect(400);
      expect(twice.body.message).toContain('query.eventName must be given once');
      const badDate = await http()
        .get('/ops/integration/api/deliveries?from=yesterday')
        .set(as('token-alice'))
        .expect(400);
      expect(badDate.body.message).toContain('query.from must be an ISO 8601 date-time');
      const paged = await http()
        .get('/ops/integration/api/deliveries/count?limit=5')
        .set(as('token-alice'))
        .expect(400);
      expect(paged.body.message).toContain('query.limit is not a known key');
      const noReason = await http()
        .post(`/ops/integration/api/events/${EVENT_ID}/deliveries/mailer/discard`)
        .set(as('token-alice'))
        .send({ why: 'x' })
        .expect(400);
      expect(noReason.body.message).toContain(
        "body.why is not a known key (did you mean 'reason'?)",
      );
      const badPurge = await http()
        .post('/ops/integration/api/dead-letters/purge')
        .set(as('token-alice'))
        .send({ reason: 'old' })
        .expect(400);
      expect(badPurge.body.message).toContain('body.olderThan is required');
      await http()
        .get(`/ops/integration/api/events/${EVENT_ID}`)
        .set(as('token-alice'))
        .expect(404);
      for (const res of [misspelt, twice, badDate, noReason, badPurge]) {
        expect(JSON.stringify(res.body)).not.toMatch(/\bat \S+|\.ts:|\.js:|node_modules|stack/);
      }
    });

    it('an unexpected failure is 500 with a generic message; details only when asked for', async () => {
      const exposing = await createIntegrationApp(db.url, {
        metadata: {
          imports: [
            IntegrationAdminModule.register({
              guard: { canActivate: () => true },
              exposeErrorDetails: true,
            }),
          ],
        },
      });
      // A real failure: the audit table is gone.
      await pool.query('ALTER TABLE integration_audit RENAME TO integration_audit_away');
      try {
        const res = await http()
          .get('/ops/integration/api/audit')
          .set(as('token-alice'))
          .expect(500);
        expect(res.body).toEqual({
          statusCode: 500,
          message: 'Internal server error: the admin request failed (see the server log)',
        });
        const detailed = await request(exposing.app.getHttpServer())
          .get('/admin/api/audit')
          .expect(500);
        expect(detailed.body.detail).toMatch(/integration_audit/);
        expect(detailed.body.stack).toEqual(expect.any(String));
      } finally {
        await pool.query('ALTER TABLE integration_audit_away RENAME TO integration_audit');
        await exposing.close();
      }
    });
  });

  describe('over the admin service', () => {
    const ids: string[] = [];

    beforeAll(async () => {
      failing = true;
      ids.push(
        ...(await publishAll(t, [
          thingEvent('thing.done', 'k1'),
          thingEvent('thing.done', 'k2'),
          thingEvent('thing.other', 'k3'),
        ])),
      );
      await t.app.get(OutboxProcessor).drain();
      failing = false;
    });

    const deadLetters = async (consumer: string): Promise<number> =>
      (
        await pool.query<{ n: number }>(
          `select count(*)::int as n from integration_delivery where consumer_name = $1 and status = 'dead_letter'`,
          [consumer],
        )
      ).rows[0]!.n;

    it('lists and counts dead letters with filters, pages with the cursor, shows one event', async () => {
      const list = await http()
        .get('/ops/integration/api/deliveries?consumer=mailer&limit=2')
        .set(as('token-bob'))
        .expect(200);
      expect(list.body.items).toHaveLength(2);
      expect(list.body.items.every((d: { consumer: string }) => d.consumer === 'mailer')).toBe(
        true,
      );
      expect(list.body.nextCursor).toEqual(expect.any(String));
      const next = await http()
        .get(
          `/ops/integration/api/deliveries?consumer=mailer&limit=2&after=${encodeURIComponent(list.body.nextCursor)}`,
        )
        .set(as('token-bob'))
        .expect(200);
      expect(next.body.items).toHaveLength(1);
      expect(next.body.nextCursor).toBeNull();
      const count = await http()
        .get('/ops/integration/api/deliveries/count?eventName=thing.other')
        .set(as('token-bob'))
        .expect(200);
      expect(count.body).toEqual({ count: 2 });
      const events = await http()
        .get('/ops/integration/api/events/count')
        .set(as('token-bob'))
        .expect(200);
      expect(events.body).toEqual({ count: 3 });

      const detail = await http()
        .get(`/ops/integration/api/events/${ids[0]}`)
        .set(as('token-bob'))
        .expect(200);
      expect(detail.body.event).toMatchObject({
        id: ids[0],
        name: 'thing.done',
        payload: { key: 'k1' },
      });
      expect(
        detail.body.deliveries
          .map((d: { consumer: string; status: string }) => [d.consumer, d.status])
          .sort(),
      ).toEqual([
        ['ledger', 'dead_letter'],
        ['mailer', 'dead_letter'],
      ]);
    });

    it('replays one delivery with the actor from the request and the reason, then the audit lists it', async () => {
      const res = await http()
        .post(`/ops/integration/api/events/${ids[0]}/deliveries/mailer/replay`)
        .set(as('token-alice'))
        .send({ reason: 'smtp is back' })
        .expect(200);
      expect(res.body).toMatchObject({
        action: 'replay',
        affected: 1,
        dryRun: false,
        complete: true,
      });
      await t.app.get(OutboxProcessor).drain();
      const { rows } = await pool.query(
        'select status from integration_delivery where event_id = $1 and consumer_name = $2',
        [ids[0], 'mailer'],
      );
      expect(rows).toEqual([{ status: 'processed' }]);
      const audit = await pool.query(
        'select actor, reason, action, affected from integration_audit where id = $1',
        [res.body.auditId],
      );
      expect(audit.rows).toEqual([
        { actor: 'user:alice', reason: 'smtp is back', action: 'replay', affected: 1 },
      ]);
      const listed = await http()
        .get('/ops/integration/api/audit')
        .set(as('token-bob'))
        .expect(200);
      expect(listed.body.items[0]).toMatchObject({ id: res.body.auditId, actor: 'user:alice' });
    });

    it('bulk replay dry run counts and changes nothing; discard needs a reason; purge deletes', async () => {
      const before = await deadLetters('ledger');
      const dry = await http()
        .post('/ops/integration/api/deliveries/replay')
        .set(as('token-alice'))
        .send({ filter: { consumer: 'ledger' }, dryRun: true })
        .expect(200);
      expect(dry.body).toMatchObject({ affected: before, dryRun: true });
      expect(await deadLetters('ledger')).toBe(before);

      const noReason = await http()
        .post(`/ops/integration/api/events/${ids[1]}/deliveries/ledger/discard`)
        .set(as('token-alice'))
        .send({})
        .expect(400);
      expect(noReason.body.error).toBe('InvalidQueryError');
      await http()
        .post(`/ops/integration/api/events/${ids[1]}/deliveries/ledger/discard`)
        .set(as('token-alice'))
        .send({ reason: 'not needed' })
        .expect(200);
      expect(await deadLetters('ledger')).toBe(before - 1);

      const purged = await http()
        .post('/ops/integration/api/dead-letters/purge')
        .set(as('token-alice'))
        .send({
          olderThan: new Date(Date.now() + 60_000).toISOString(),
          consumer: 'ledger',
          reason: 'cleanup',
        })
        .expect(200);
      expect(purged.body).toMatchObject({ action: 'purge-dead-letters', affected: before - 1 });
      expect(await deadLetters('ledger')).toBe(0);
    });
  });
});
