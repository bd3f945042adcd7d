import {
  DomainEventPublisher,
  IntegrationAdminService,
  LinkType,
  type EntityRef,
  type IntegrationLink,
} from '../../src/integration';
import { IntegrationLinkService } from '../../src/integration/links/integration-link.service';
import {
  bootWithLogger as boot,
  CaptureLogger,
  orderEvent as ev,
  type Booted,
} from '../support/capture-logger';
import { createOrm, type OrmClients } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('tenant identity of finders and links (hardening #11)', () => {
  let db: TestDatabase;
  let orm: OrmClients;
  let t: Booted;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm('pg', db.url);
    t = await boot(orm, new CaptureLogger());
  });
  afterAll(async () => {
    await t.close();
    await orm.close();
    await db.drop();
  });

  it("findEventsByAggregate returns one tenant's aggregate: none given means events without a tenant (hardening #11)", async () => {
    const publisher = t.app.get(DomainEventPublisher);
    const admin = t.app.get(IntegrationAdminService);
    const a1 = await publisher.publishStandalone(ev({ tenantId: 'A' }));
    const b1 = await publisher.publishStandalone(ev({ tenantId: 'B' }));
    const n1 = await publisher.publishStandalone(ev());
    const a2 = await publisher.publishStandalone(ev({ tenantId: 'A', name: 'order.paid' }));
    const ids = async (options?: { tenantId?: string | null }): Promise<string[]> =>
      (await admin.findEventsByAggregate('Order', '1', options)).map((e) => e.event.id);
    expect(await ids()).toEqual([n1]);
    expect(await ids({ tenantId: null })).toEqual([n1]);
    expect(await ids({})).toEqual([n1]);
    expect(await ids({ tenantId: 'A' })).toEqual([a1, a2]);
    expect(await ids({ tenantId: 'B' })).toEqual([b1]);
    expect(await ids({ tenantId: 'C' })).toEqual([]);
  });

  it('link finders and unlink cover exactly one tenant: none given means links without a tenant (hardening #11)', async () => {
    const links = t.app.get(IntegrationLinkService);
    const order: EntityRef = { module: 'orders', entityType: 'Order', entityId: '1' };
    const invoice: EntityRef = { module: 'billing', entityType: 'Invoice', entityId: '1' };
    const make = (tenantId?: string): Promise<IntegrationLink> =>
      links.link(undefined, {
        source: order,
        target: invoice,
        linkType: LinkType.Reference,
        ...(tenantId === undefined ? {} : { tenantId }),
      });
    const none = await make();
    const a = await make('A');
    const b = await make('B');
    const back = await links.link(undefined, {
      source: invoice,
      target: order,
      linkType: LinkType.Cascade,
      tenantId: 'A',
    });
    const ids = (list: IntegrationLink[]): string[] => list.map((l) => l.id);

    expect(ids(await links.findBetween(order, invoice))).toEqual([none.id]);
    expect(ids(await links.findBetween(order, invoice, undefined, null))).toEqual([none.id]);
    expect(ids(await links.findBetween(invoice, order, undefined, 'A'))).toEqual([a.id, back.id]);
    expect(ids(await links.findBetween(order, invoice, undefined, 'B'))).toEqual([b.id]);
    expect(ids(await links.findByType(LinkType.Reference))).toEqual([none.id]);
    expect(ids(await links.findByType(LinkType.Reference, undefined, 10, 'A'))).toEqual([a.id]);
    expect(ids(await links.findByType(LinkType.Cascade, undefined, undefined, 'A'))).toEqual([
      back.id,
    ]);
    expect(await links.findByType(LinkType.Cascade)).toEqual([]);
    expect(ids(await links.findOutbound(order))).toEqual([none.id]);
    expect(ids(await links.findInbound(invoice, undefined, 'B'))).toEqual([b.id]);
    const bound = links.bind(undefined);
    expect(ids(await bound.findBetween(order, invoice, 'B'))).toEqual([b.id]);
    expect(ids(await bound.findByType(LinkType.Reference, undefined, 'A'))).toEqual([a.id]);
    await expect(links.findBetween(order, invoice, undefined, '')).rejects.toThrow('tenantId');

    // unlink without a tenant removes the link without a tenant only, never A's or B's.
    expect(await links.unlink(undefined, { source: order, target: invoice })).toBe(1);
    expect(await links.unlink(undefined, { source: order, target: invoice })).toBe(0);
    expect(ids(await links.findOutbound(order, undefined, 'A'))).toEqual([a.id]);
    expect(ids(await links.findOutbound(order, undefined, 'B'))).toEqual([b.id]);
    expect(await links.unlink(undefined, { source: order, target: invoice, tenantId: 'B' })).toBe(
      1,
    );
    expect(ids(await links.findOutbound(order, undefined, 'A'))).toEqual([a.id]);
  });
});
