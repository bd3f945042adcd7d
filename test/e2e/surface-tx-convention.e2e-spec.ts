import {
  InboxService,
  InboxStatus,
  IntegrationLinkService,
  LinkType,
  uuidv7,
  type EntityRef,
} from '../../src/integration';
import {
  createIntegrationApp,
  inTransaction,
  type IntegrationTestApp,
  type OrmKind,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const ref = (entityId: string): EntityRef => ({ module: 'm', entityType: 'E', entityId });

describe.each<OrmKind>(['prisma', 'knex', 'pg'])(
  'optional transaction last, as { tx }, with %s (surface #3)',
  (orm) => {
    let db: TestDatabase;
    let t: IntegrationTestApp;
    let links: IntegrationLinkService;
    let inbox: InboxService;

    beforeAll(async () => {
      db = await createTestDatabase();
      t = await createIntegrationApp(db.url, { orm });
      links = t.app.get(IntegrationLinkService);
      inbox = t.app.get(InboxService);
    });
    afterAll(async () => {
      await t.close();
      await db.drop();
    });

    it('the link finders read in the caller’s transaction through { tx, tenantId, limit } (surface #3)', async () => {
      const [a, b] = [ref(uuidv7()), ref(uuidv7())];
      await inTransaction(t.orm, async (tx) => {
        await links.link(tx, {
          source: a,
          target: b,
          linkType: LinkType.Reference,
          tenantId: 't1',
        });
        // Uncommitted: only the transaction sees it.
        expect(await links.findOutbound(a, { tx, tenantId: 't1' })).toHaveLength(1);
        expect(await links.findInbound(b, { tx, tenantId: 't1' })).toHaveLength(1);
        expect(await links.findBetween(b, a, { tx, tenantId: 't1' })).toHaveLength(1);
        expect(
          await links.findByType(LinkType.Reference, { tx, tenantId: 't1', limit: 5 }),
        ).toHaveLength(1);
        expect(await links.findOutbound(a, { tx })).toHaveLength(0);
        expect(await links.findOutbound(a, { tenantId: 't1' })).toHaveLength(0);
        // The older positional shape still works.
        expect(await links.findOutbound(a, tx, 't1')).toHaveLength(1);
        expect(await links.findByType(LinkType.Reference, tx, 5, 't1')).toHaveLength(1);
      });
      expect(await links.findOutbound(a, { tenantId: 't1' })).toHaveLength(1);
      expect(await links.findOutbound(a)).toHaveLength(0);
    });

    it('the inbox methods run in the caller’s transaction through { tx } (surface #3)', async () => {
      const [skipped, failed] = [uuidv7(), uuidv7()];
      await inTransaction(t.orm, async (tx) => {
        expect(await inbox.markSkipped(skipped, 'c', { reason: 'not for us', tx })).toBe(true);
        await inbox.markFailed(failed, 'c', new Error('boom'), { tx });
        expect(await inbox.isProcessed(skipped, 'c', { tx })).toBe(true);
        expect(await inbox.getStatus(failed, 'c', { tx })).toBe(InboxStatus.Failed);
        expect(await inbox.findByEvent(skipped, { tx })).toMatchObject([
          { consumer: 'c', status: InboxStatus.Skipped },
        ]);
        expect(await inbox.getStatus(skipped, 'c', {})).toBeUndefined();
        // The older positional shapes still work.
        expect(await inbox.getStatus(skipped, 'c', tx)).toBe(InboxStatus.Skipped);
        expect(await inbox.markSkipped(uuidv7(), 'c', 'why', tx)).toBe(true);
      });
      expect(await inbox.isProcessed(skipped, 'c')).toBe(true);
      expect((await inbox.findByEvent(skipped))[0]).toMatchObject({ status: InboxStatus.Skipped });
    });
  },
);
