import {
  CrossTenantAccessError,
  IntegrationAdminService,
  IntegrationContext,
} from '../../src/integration';
import { useVaultApp } from '../support/vault-app';
import { waitFor } from '../support/wait-for';

describe('vault request context (issue 16)', () => {
  const vault = useVaultApp(3);
  const { http, settled } = vault;

  it("X-Correlation-Id: abc → vault.opened → the ledger's follow-up: both correlated, caused in order", async () => {
    const res = await http()
      .post('/vaults')
      .set('X-Correlation-Id', 'abc')
      .set('X-Tenant-Id', 'carol')
      .send({ ownerId: 'carol', name: 'Savings', currency: 'EUR' })
      .expect(201);
    expect(res.headers['x-correlation-id']).toBe('abc');
    await settled();
    await waitFor(
      async () =>
        (await vault.app.get(IntegrationAdminService).findEventsByCorrelation('abc')).length === 2,
      15_000,
      'the follow-up event',
    );
    const found = await vault.app.get(IntegrationAdminService).findEventsByCorrelation('abc');
    const [opened, followUp] = found.map((f) => f.event);
    expect(opened).toMatchObject({
      id: res.body.eventId,
      name: 'vault.opened',
      correlationId: 'abc',
      causationId: null,
      tenantId: 'carol',
    });
    expect(followUp).toMatchObject({
      name: 'vault-ledger.opened',
      correlationId: 'abc',
      causationId: opened!.id,
      tenantId: 'carol',
      payload: { ownerId: 'carol', currency: 'EUR' },
      headers: { actor: 'carol' },
    });
    // Tenant-scoped: another tenant's context finds none of them; the right one finds both.
    const admin = vault.app.get(IntegrationAdminService);
    const context = vault.app.get(IntegrationContext);
    expect(
      await context.run({ tenantId: 'mallory' }, () => admin.findEventsByCorrelation('abc')),
    ).toEqual([]);
    expect(await admin.findEventsByCorrelation('abc', { tenantId: 'carol' })).toHaveLength(2);
    // Naming another tenant than the context's is refused, not answered.
    await expect(
      context.run({ tenantId: 'mallory' }, () =>
        admin.findEventsByCorrelation('abc', { tenantId: 'carol' }),
      ),
    ).rejects.toBeInstanceOf(CrossTenantAccessError);
    expect(await admin.findEventsByCorrelation('abc', { limit: 1 })).toHaveLength(1);
  });

  it('generates a correlation id when the request has none, echoes it, and the tenant is the owner', async () => {
    const res = await http()
      .post('/vaults')
      .send({ ownerId: 'dave', name: 'Savings', currency: 'EUR' })
      .expect(201);
    const correlationId = res.headers['x-correlation-id'] as string;
    expect(correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await vault.pool.query(
      'SELECT correlation_id, tenant_id FROM outbox_event WHERE id = $1',
      [res.body.eventId],
    );
    expect(rows).toEqual([{ correlation_id: correlationId, tenant_id: 'dave' }]);
  });

  it('takes the correlation from traceparent when no X-Correlation-Id is given', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await http()
      .post('/vaults')
      .set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`)
      .send({ ownerId: 'erin', name: 'Savings', currency: 'EUR' })
      .expect(201);
    expect(res.headers['x-correlation-id']).toBe(traceId);
  });

  it("another tenant's vault does not exist for a request naming its tenant: 404, nothing written", async () => {
    const res = await http()
      .post('/vaults')
      .send({ ownerId: 'gina', name: 'Savings', currency: 'EUR' })
      .expect(201);
    const id = res.body.vault.id as string;
    const count = async () =>
      (await vault.pool.query('SELECT count(*)::int AS n FROM outbox_event')).rows[0].n as number;
    await settled();
    const before = await count();
    await http().get(`/vaults/${id}`).set('X-Tenant-Id', 'mallory').expect(404);
    await http()
      .post(`/vaults/${id}/deposits`)
      .set('X-Tenant-Id', 'mallory')
      .send({ amountMinor: '100' })
      .expect(404);
    // Opening for someone else than the tenant named: refused too.
    await http()
      .post('/vaults')
      .set('X-Tenant-Id', 'mallory')
      .send({ ownerId: 'gina', name: 'Other', currency: 'EUR' })
      .expect(404);
    expect(await count()).toBe(before);
    await http().get(`/vaults/${id}`).set('X-Tenant-Id', 'gina').expect(200);
  });

  it('refuses an invalid X-Tenant-Id with 400 before anything is written', async () => {
    const before = (await vault.pool.query('SELECT count(*)::int AS n FROM outbox_event')).rows[0]
      .n;
    await http()
      .post('/vaults')
      .set('X-Tenant-Id', 'x'.repeat(201))
      .send({ ownerId: 'frank', name: 'Savings', currency: 'EUR' })
      .expect(400);
    expect((await vault.pool.query('SELECT count(*)::int AS n FROM outbox_event')).rows[0].n).toBe(
      before,
    );
  });

  it('refuses invalid finder input', async () => {
    const admin = vault.app.get(IntegrationAdminService);
    await expect(admin.findEventsByCorrelation('')).rejects.toThrow(/correlationId/);
    await expect(admin.findEventsByCorrelation('abc', { limit: 0 })).rejects.toThrow(/limit/);
    await expect(admin.findEventsByCorrelation('abc', { tenant: 'x' } as never)).rejects.toThrow(
      /did you mean 'tenantId'/,
    );
  });
});
