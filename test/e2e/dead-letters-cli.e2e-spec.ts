import { userInfo } from 'node:os';
import { Injectable, type Provider } from '@nestjs/common';
import { Pool } from 'pg';
import {
  IntegrationConsumer,
  OnIntegrationEvent,
  OutboxProcessor,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import { CliExitCode } from '../../src/integration/cli/cli';
import { runCliInProcess, runCliProcess } from '../support/cli-process';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** What the handlers refuse; cleared to let a replay go through. */
class Faults {
  readonly billing = new Set<string>();
  readonly audit = new Set<string>();
}

interface Invoice {
  readonly invoice: string;
}

@Injectable()
@IntegrationConsumer('billing', { retry: { maxAttempts: 1 } })
class BillingConsumer {
  constructor(private readonly faults: Faults) {}

  @OnIntegrationEvent('invoice.*')
  on(event: IntegrationEvent<Invoice>): void {
    if (this.faults.billing.has(event.payload.invoice)) {
      throw new Error(`billing refuses ${event.payload.invoice}`);
    }
  }
}

@Injectable()
@IntegrationConsumer('audit', { retry: { maxAttempts: 1 } })
class AuditConsumer {
  constructor(private readonly faults: Faults) {}

  @OnIntegrationEvent('invoice.*')
  on(event: IntegrationEvent<Invoice>): void {
    if (this.faults.audit.has(event.payload.invoice)) {
      throw new Error(`audit refuses ${event.payload.invoice}`);
    }
  }
}

const invoice = (
  name: string,
  id: string,
  extra: Partial<PublishEventInput> = {},
): PublishEventInput => ({
  name,
  aggregateType: 'Invoice',
  aggregateId: id,
  payload: { invoice: id },
  ...extra,
});

interface DeliveryRow {
  event_id: string;
  consumer_name: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  updated_at: Date;
}

interface AuditRow {
  action: string;
  actor: string;
  reason: string | null;
  affected: number;
  dry_run: boolean;
  complete: boolean;
  target: Record<string, unknown>;
}

const ME = `cli:${userInfo().username}`;

describe('CLI: nestjs-integration stats and dead-letters (issue 15 acceptance #3)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: IntegrationTestApp;
  const faults = new Faults();
  const cli = (argv: string[]) => runCliInProcess([...argv, '--database-url', db.url]);
  /** Event ids by invoice id. */
  const ids = new Map<string, string>();

  const deliveries = async (where = 'true', params: unknown[] = []): Promise<DeliveryRow[]> =>
    (
      await pool.query<DeliveryRow>(
        `SELECT event_id::text, consumer_name, status, attempt_count, last_error, updated_at
           FROM integration_delivery WHERE ${where} ORDER BY event_id, consumer_name`,
        params,
      )
    ).rows;
  const audit = async (): Promise<AuditRow[]> =>
    (
      await pool.query<AuditRow>(
        `SELECT action, actor, reason, affected, dry_run, complete, target
           FROM integration_audit ORDER BY created_at, id`,
      )
    ).rows;
  const drain = () => app.app.get(OutboxProcessor).drain();

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    const providers: Provider[] = [
      { provide: Faults, useValue: faults },
      BillingConsumer,
      AuditConsumer,
    ];
    app = await createIntegrationApp(db.url, {
      integration: { processor: { enabled: false, workerId: 'cli-test', batchSize: 50 } },
      metadata: { providers },
    });
  });

  beforeEach(async () => {
    // Dead letters from a failing handler: billing refuses i1–i4, audit refuses i4; i5 passes.
    for (const id of ['i1', 'i2', 'i3', 'i4']) faults.billing.add(id);
    faults.audit.add('i4');
    const published = await publishAll(app, [
      invoice('invoice.created', 'i1', { tenantId: 't1' }),
      invoice('invoice.created', 'i2', { tenantId: 't1' }),
      invoice('invoice.created', 'i3', { tenantId: 't2' }),
      invoice('invoice.voided', 'i4', { correlationId: 'corr-4' }),
      invoice('invoice.created', 'i5'),
    ]);
    published.forEach((id, i) => ids.set(`i${i + 1}`, id));
    await drain();
    faults.billing.clear();
    faults.audit.clear();
  });

  afterEach(async () => {
    await pool.query(
      'TRUNCATE outbox_event, integration_delivery, integration_audit, integration_consumer_stats',
    );
  });

  afterAll(async () => {
    await app.close();
    await pool.end();
    await db.drop();
  });

  it('the test app made the dead letters the CLI works on', async () => {
    const dead = await deliveries(`status = 'dead_letter'`);
    expect(dead.map((d) => `${d.consumer_name}:${d.event_id}`).sort()).toEqual(
      [
        ...['i1', 'i2', 'i3', 'i4'].map((i) => `billing:${ids.get(i)}`),
        `audit:${ids.get('i4')}`,
      ].sort(),
    );
  });

  it('dead-letters list --consumer X --json returns exactly that consumer’s dead-letter rows', async () => {
    const run = await cli(['dead-letters', 'list', '--consumer', 'billing', '--json']);
    expect(run.code).toBe(CliExitCode.Ok);
    expect(run.stderr).toBe('');
    const page = JSON.parse(run.stdout) as {
      items: Array<Record<string, unknown>>;
      nextCursor: string | null;
    };
    const rows = await deliveries(`status = 'dead_letter' AND consumer_name = 'billing'`);
    expect(page.nextCursor).toBeNull();
    expect(
      page.items
        .map((d) => ({
          event_id: d.eventId,
          consumer_name: d.consumer,
          status: d.status,
          attempt_count: d.attemptCount,
          last_error: d.lastError,
          updated_at: new Date(d.updatedAt as string),
        }))
        .sort((a, b) => String(a.event_id).localeCompare(String(b.event_id))),
    ).toEqual(rows);
    // Newest first, and the event's fields an operator filters by come along.
    const times = page.items.map((d) => Date.parse(d.updatedAt as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(page.items.find((d) => d.eventId === ids.get('i1'))).toMatchObject({
      eventName: 'invoice.created',
      aggregateType: 'Invoice',
      aggregateId: 'i1',
      tenantId: 't1',
    });
  });

  it('dead-letters list filters, pages with --after, and prints a table without --json', async () => {
    const json = async (argv: string[]) => {
      const run = await cli(['dead-letters', 'list', ...argv, '--json']);
      expect(run).toMatchObject({ code: CliExitCode.Ok, stderr: '' });
      return JSON.parse(run.stdout) as {
        items: Array<{ eventId: string; consumer: string }>;
        nextCursor: string | null;
      };
    };
    const key = (p: { items: Array<{ eventId: string; consumer: string }> }) =>
      p.items.map((d) => `${d.consumer}:${d.eventId}`).sort();
    expect(key(await json(['--event-name', 'invoice.voided']))).toEqual(
      [`audit:${ids.get('i4')}`, `billing:${ids.get('i4')}`].sort(),
    );
    expect(key(await json(['--tenant', 't1']))).toEqual(
      [`billing:${ids.get('i1')}`, `billing:${ids.get('i2')}`].sort(),
    );
    expect(key(await json(['--correlation-id', 'corr-4', '--consumer', 'audit']))).toEqual([
      `audit:${ids.get('i4')}`,
    ]);
    expect((await json(['--since', '2000-01-01', '--until', '2000-01-02'])).items).toEqual([]);

    const first = await json(['--limit', '3']);
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await json(['--limit', '3', '--after', first.nextCursor!]);
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
    expect([...key(first), ...key(second)].sort()).toEqual(
      (await deliveries(`status = 'dead_letter'`))
        .map((d) => `${d.consumer_name}:${d.event_id}`)
        .sort(),
    );

    const text = await cli(['dead-letters', 'list', '--consumer', 'audit']);
    expect(text.code).toBe(CliExitCode.Ok);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^EVENT ID +CONSUMER +EVENT NAME +TENANT +ATTEMPTS +DEAD SINCE +LAST ERROR$/,
    );
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        new RegExp(`^${ids.get('i4')} +audit +invoice\\.voided +1 +\\S+Z +.*audit refuses i4`),
      ),
    ]);
    const paged = await cli(['dead-letters', 'list', '--limit', '1']);
    expect(paged.stdout).toMatch(/\nMore: add --after \S+\n$/);
    expect((await cli(['dead-letters', 'list', '--tenant', 'nobody'])).stdout).toBe(
      'No dead letters match.\n',
    );
  });

  it('replay --dry-run counts and changes no delivery; its audit row is marked dry', async () => {
    const before = await deliveries();
    const run = await cli([
      'dead-letters',
      'replay',
      '--consumer',
      'billing',
      '--dry-run',
      '--json',
    ]);
    expect(run.code).toBe(CliExitCode.Ok);
    expect(JSON.parse(run.stdout)).toEqual({
      action: 'replay',
      affected: 4,
      dryRun: true,
      complete: true,
      auditId: expect.any(String),
    });
    expect(await deliveries()).toEqual(before);
    expect(await audit()).toEqual([
      expect.objectContaining({ action: 'replay', actor: ME, affected: 4, dry_run: true }),
    ]);
    const text = await cli(['dead-letters', 'replay', '--all', '--dry-run']);
    expect(text.stdout).toMatch(
      /^Dry run: 5 deliveries would be replayed; nothing changed \(audit row \S+, marked dry run\)\n$/,
    );
    expect(await deliveries()).toEqual(before);
  });

  it('replay puts dead letters back to pending, bounded by --limit and resumable, and they get processed', async () => {
    const first = await cli([
      'dead-letters',
      'replay',
      '--consumer',
      'billing',
      '--limit',
      '3',
      '--actor',
      'ops:ann',
      '--reason',
      'fixed the card processor',
    ]);
    expect(first.code).toBe(CliExitCode.Ok);
    expect(first.stdout).toMatch(
      /^Replayed 3 deliveries; more still match: run the same command again to continue \(audit row \S+\)\n$/,
    );
    expect(await deliveries(`consumer_name = 'billing' AND status = 'pending'`)).toHaveLength(3);
    const second = await cli([
      'dead-letters',
      'replay',
      '--consumer',
      'billing',
      '--actor',
      'ops:ann',
      '--json',
    ]);
    expect(JSON.parse(second.stdout)).toMatchObject({ affected: 1, complete: true, dryRun: false });
    const billing = await deliveries(`consumer_name = 'billing'`);
    expect(billing.filter((d) => d.status === 'pending')).toHaveLength(4);
    expect(billing.filter((d) => d.status === 'pending').every((d) => d.attempt_count === 0)).toBe(
      true,
    );
    // Audit's dead letter is another consumer's: untouched.
    expect(await deliveries(`consumer_name = 'audit' AND status = 'dead_letter'`)).toHaveLength(1);
    expect(await audit()).toEqual([
      expect.objectContaining({
        action: 'replay',
        actor: 'ops:ann',
        reason: 'fixed the card processor',
        affected: 3,
        complete: false,
        dry_run: false,
      }),
      expect.objectContaining({ action: 'replay', actor: 'ops:ann', affected: 1, complete: true }),
    ]);

    await drain();
    expect((await deliveries(`consumer_name = 'billing'`)).map((d) => d.status)).toEqual(
      Array(5).fill('processed'),
    );

    // One event's dead letter, for one consumer.
    const one = await cli(['dead-letters', 'replay', ids.get('i4')!, '--consumer', 'audit']);
    expect(one.stdout).toMatch(/^Replayed 1 delivery; complete \(audit row \S+\)\n$/);
    await drain();
    expect(await deliveries(`status <> 'processed'`)).toEqual([]);
    expect((await audit()).at(-1)).toMatchObject({ action: 'replay', actor: ME, affected: 1 });
  });

  it('discard marks a delivery skipped with the reason, and records who and why', async () => {
    const one = await cli([
      'dead-letters',
      'discard',
      ids.get('i4')!,
      '--consumer',
      'audit',
      '--reason',
      'voided by hand',
      '--json',
    ]);
    expect(one.code).toBe(CliExitCode.Ok);
    expect(JSON.parse(one.stdout)).toMatchObject({ action: 'discard', affected: 1, dryRun: false });
    expect(await deliveries(`consumer_name = 'audit' AND event_id = $1`, [ids.get('i4')])).toEqual([
      expect.objectContaining({ status: 'skipped' }),
    ]);
    const dry = await cli([
      'dead-letters',
      'discard',
      '--tenant',
      't1',
      '--reason',
      'test tenant',
      '--dry-run',
    ]);
    expect(dry.stdout).toMatch(/^Dry run: 2 deliveries would be discarded; nothing changed/);
    expect(await deliveries(`status = 'skipped'`)).toHaveLength(1);
    const bulk = await cli([
      'dead-letters',
      'discard',
      '--tenant',
      't1',
      '--reason',
      'test tenant',
    ]);
    expect(bulk.stdout).toMatch(/^Discarded 2 deliveries; complete/);
    expect((await deliveries(`status = 'skipped'`)).map((d) => d.event_id).sort()).toEqual(
      [ids.get('i1'), ids.get('i2'), ids.get('i4')].sort(),
    );
    expect(await audit()).toEqual([
      expect.objectContaining({
        action: 'discard',
        actor: ME,
        reason: 'voided by hand',
        affected: 1,
      }),
      expect.objectContaining({
        action: 'discard',
        reason: 'test tenant',
        affected: 2,
        dry_run: true,
      }),
      expect.objectContaining({
        action: 'discard',
        reason: 'test tenant',
        affected: 2,
        dry_run: false,
      }),
    ]);
  });

  it('purge --older-than (a real process) deletes only older dead letters and writes its audit row', async () => {
    // Two of billing's dead letters were dead-lettered ten days ago.
    await pool.query(
      `UPDATE integration_delivery SET updated_at = now() - interval '10 days'
        WHERE consumer_name = 'billing' AND event_id = ANY($1::uuid[])`,
      [[ids.get('i1'), ids.get('i2')]],
    );
    const env = { DATABASE_URL: db.url, USER: 'ignored' };
    const before = await deliveries();
    const dry = await runCliProcess(
      [
        'dead-letters',
        'purge',
        '--older-than',
        '7d',
        '--reason',
        'retention',
        '--dry-run',
        '--json',
      ],
      env,
    );
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      action: 'purge-dead-letters',
      affected: 2,
      dryRun: true,
      complete: true,
    });
    expect(await deliveries()).toEqual(before);

    const run = await runCliProcess(
      [
        'dead-letters',
        'purge',
        '--older-than',
        '7d',
        '--reason',
        'retention',
        '--actor',
        'ops:bob',
      ],
      env,
    );
    expect(run).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^Purged 2 deliveries; complete \(audit row \S+\)\n$/),
      stderr: '',
    });
    const left = await deliveries(`status = 'dead_letter'`);
    expect(left.map((d) => `${d.consumer_name}:${d.event_id}`).sort()).toEqual(
      [`billing:${ids.get('i3')}`, `billing:${ids.get('i4')}`, `audit:${ids.get('i4')}`].sort(),
    );
    expect(await audit()).toEqual([
      expect.objectContaining({
        action: 'purge-dead-letters',
        actor: ME,
        affected: 2,
        dry_run: true,
      }),
      expect.objectContaining({
        action: 'purge-dead-letters',
        actor: 'ops:bob',
        reason: 'retention',
        affected: 2,
        dry_run: false,
        complete: true,
      }),
    ]);
    // An ISO date works too; nothing else is that old.
    const again = await cli([
      'dead-letters',
      'purge',
      '--older-than',
      '2000-01-01',
      '--reason',
      'x',
      '--consumer',
      'billing',
    ]);
    expect(again.stdout).toMatch(/^Purged 0 deliveries; complete/);
    expect(await deliveries(`status = 'dead_letter'`)).toHaveLength(3);
  });

  it('show prints an event with its payload, every consumer’s delivery and its correlated events', async () => {
    const text = await cli(['dead-letters', 'show', ids.get('i4')!]);
    expect(text.code).toBe(CliExitCode.Ok);
    expect(text.stdout).toContain(`Event ${ids.get('i4')}: invoice.voided v1\n`);
    expect(text.stdout).toContain('  correlation  corr-4\n');
    expect(text.stdout).toContain('Payload:\n  {\n    "invoice": "i4"\n  }\n');
    expect(text.stdout).toMatch(
      /\n {2}CONSUMER +STATUS +ATTEMPTS +NEXT ATTEMPT +LEASE HOLDER +LAST ERROR\n/,
    );
    expect(text.stdout).toMatch(/\n {2}audit +dead_letter +1 .*audit refuses i4\n/);
    expect(text.stdout).toMatch(/\n {2}billing +dead_letter +1 .*billing refuses i4\n/);
    const json = await cli(['dead-letters', 'show', ids.get('i4')!, '--json']);
    const detail = JSON.parse(json.stdout) as { event: { id: string }; deliveries: unknown[] };
    expect(detail.event.id).toBe(ids.get('i4'));
    expect(detail.deliveries).toHaveLength(2);

    const missing = await cli(['dead-letters', 'show', '01890000-0000-7000-8000-000000000000']);
    expect(missing).toEqual({
      code: CliExitCode.Usage,
      stdout: '',
      stderr: 'nestjs-integration: No outbox event with id 01890000-0000-7000-8000-000000000000\n',
    });
    // --tenant limits it to that tenant's events (issue 16): i4 has none, so it is not found.
    const otherTenant = await cli(['dead-letters', 'show', ids.get('i4')!, '--tenant', 't1']);
    expect(otherTenant.code).toBe(CliExitCode.Usage);
    expect(otherTenant.stderr).toMatch(/No outbox event with id/);
    const replayOther = await cli([
      'dead-letters',
      'replay',
      ids.get('i4')!,
      '--tenant',
      't1',
      '--json',
    ]);
    expect(replayOther.stderr).toMatch(/No outbox event with id/);
    const discardOther = await cli([
      'dead-letters',
      'discard',
      ids.get('i4')!,
      '--consumer',
      'billing',
      '--reason',
      'r',
      '--tenant',
      't1',
    ]);
    expect(discardOther.stderr).toMatch(/No outbox event with id/);
    const purgeOther = await cli([
      'dead-letters',
      'purge',
      '--older-than',
      '1d',
      '--reason',
      'r',
      '--tenant',
      'nobody',
      '--json',
    ]);
    expect(JSON.parse(purgeOther.stdout)).toMatchObject({ affected: 0 });
    const invalid = await cli(['dead-letters', 'show', 'nope']);
    expect(invalid.code).toBe(CliExitCode.Usage);
    expect(invalid.stderr).toMatch(/nope/);
  });

  it('stats shows the backlog per consumer and the unsequenced events', async () => {
    const json = await cli(['stats', '--json']);
    expect(json.code).toBe(CliExitCode.Ok);
    const stats = JSON.parse(json.stdout) as {
      unsequenced: number;
      minutes: number;
      backlog: Array<{ consumer: string; pending: number; deadLetter: number }>;
    };
    expect(stats).toMatchObject({ unsequenced: 0, minutes: 15 });
    expect(stats.backlog.map((b) => [b.consumer, b.pending, b.deadLetter]).sort()).toEqual([
      ['audit', 0, 1],
      ['billing', 0, 4],
    ]);
    // A committed event the sequencer has not fanned out yet counts as unsequenced.
    await publishAll(app, [invoice('invoice.created', 'i6')]);
    const text = await cli(['stats', '--minutes', '60']);
    expect(text.code).toBe(CliExitCode.Ok);
    expect(text.stdout).toMatch(/^Unsequenced events: 1 \(committed, not yet fanned out/);
    expect(text.stdout).toMatch(
      /\nCONSUMER +PENDING +PROCESSING +DEAD LETTERS +OLDEST DUE +OLDEST LEASE +PROCESSED\/60m +RETRIED\/60m +DEAD-LETTERED\/60m +MEAN LATENCY\n/,
    );
    expect(text.stdout).toMatch(/\nbilling +0 +0 +4 /);

    // --tenant: that tenant's backlog and unsequenced events, no throughput (issue 16).
    const { rows } = await pool.query<{ consumer_name: string; n: number }>(
      `SELECT consumer_name, count(*)::int AS n FROM integration_delivery
        WHERE tenant_id = 't1' AND status = 'dead_letter' GROUP BY consumer_name`,
    );
    const t1 = JSON.parse(
      (await cli(['stats', '--tenant', 't1', '--json'])).stdout,
    ) as typeof stats;
    expect(t1.unsequenced).toBe(0);
    expect(
      Object.fromEntries(
        t1.backlog.filter((b) => b.deadLetter > 0).map((b) => [b.consumer, b.deadLetter]),
      ),
    ).toEqual(Object.fromEntries(rows.map((r) => [r.consumer_name, r.n])));
    expect(rows.length).toBeGreaterThan(0);
    const nobody = JSON.parse((await cli(['stats', '--tenant', 'nobody', '--json'])).stdout) as {
      backlog: Array<{ deadLetter: number }>;
      throughput: unknown[];
    };
    expect(nobody.backlog.every((b) => b.deadLetter === 0)).toBe(true);
    expect(nobody.throughput).toEqual([]);
  });

  it('--json works for consumers list and retire', async () => {
    const list = await cli(['consumers', 'list', '--json']);
    const consumers = JSON.parse(list.stdout) as Array<{
      name: string;
      deliveries: { deadLetter: number };
    }>;
    expect(consumers.map((c) => [c.name, c.deliveries.deadLetter])).toEqual([
      ['audit', 1],
      ['billing', 4],
    ]);
    const retire = await cli([
      'consumers',
      'retire',
      'audit',
      '--reason',
      'merged into billing',
      '--json',
    ]);
    expect(JSON.parse(retire.stdout)).toEqual({
      consumer: 'audit',
      reason: 'merged into billing',
      retired: true,
      skipped: 1,
    });
    const reactivate = await cli(['consumers', 'reactivate', 'audit', '--json']);
    expect(JSON.parse(reactivate.stdout)).toEqual({ consumer: 'audit', reactivated: true });
  });

  it.each([
    [['dead-letters'], /dead-letters needs a subcommand/],
    [['dead-letters', 'frob'], /unknown subcommand "dead-letters frob"/],
    [['dead-letters', 'replay'], /needs an event id, a filter .* or --all/],
    [['dead-letters', 'discard', '--consumer', 'x'], /dead-letters discard needs --reason/],
    [['dead-letters', 'discard', 'e1', '--reason', 'r'], /needs --consumer <name>/],
    [
      ['dead-letters', 'replay', 'e1', '--dry-run'],
      /--dry-run, --limit and --all go with filtered replays/,
    ],
    [['stats', '--reason', 't'], /--reason does not go with "stats"/],
    [['dead-letters', 'purge', '--reason', 'r'], /needs --older-than/],
    [['dead-letters', 'purge', '--older-than', '7d'], /dead-letters purge needs --reason/],
    [
      ['dead-letters', 'purge', '--older-than', 'yesterday', '--reason', 'r'],
      /--older-than must be an age/,
    ],
    [
      ['dead-letters', 'purge', '--older-than', '0d', '--reason', 'r'],
      /--older-than must be an age/,
    ],
    [
      ['dead-letters', 'list', '--since', '2026-01-01T08:00'],
      /--since must be an ISO 8601 date or date-time with a zone/,
    ],
    [['dead-letters', 'list', '--until', '2026-13-45'], /--until must be an ISO 8601/],
    [['dead-letters', 'list', '--limit', 'ten'], /--limit must be a whole number/],
    [
      ['dead-letters', 'list', '--dry-run'],
      /--dry-run does not go with "dead-letters list" \(it goes with dead-letters replay, discard and purge\)/,
    ],
    [['dead-letters', 'show'], /dead-letters show needs an event id/],
    [['dead-letters', 'list', 'x'], /unexpected argument "x"/],
    [['stats', '--consumer', 'billing'], /--consumer does not go with "stats"/],
    [['stats', '--minutes', '-1'], /--minutes must be a whole number|Unknown option|argument/],
    [['consumers', 'list', '--actor', 'me'], /--actor does not go with "consumers list"/],
  ])('refuses %j with exit code 2 before connecting', async (argv, message) => {
    // Port 1 refuses connections: a connection attempt would report that instead.
    const run = await runCliInProcess([
      ...(argv as string[]),
      '--database-url',
      'postgres://u@127.0.0.1:1/db',
    ]);
    expect(run.code).toBe(CliExitCode.Usage);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/connect/);
    expect(run.stderr).toMatch(/Run "nestjs-integration --help" for usage\.\n$/);
  });

  it('an invalid value the API refuses is exit code 2 and changes nothing; a database failure is exit code 1', async () => {
    const before = await deliveries();
    const tooMany = await cli(['dead-letters', 'list', '--limit', '501']);
    expect(tooMany.code).toBe(CliExitCode.Usage);
    expect(tooMany.stderr).toMatch(/limit/);
    const longActor = await cli(['dead-letters', 'replay', '--all', '--actor', 'x'.repeat(201)]);
    expect(longActor.code).toBe(CliExitCode.Usage);
    // One delivery: an unknown consumer of the event, and a delivery that is no dead letter.
    const unknownConsumer = await cli([
      'dead-letters',
      'replay',
      ids.get('i4')!,
      '--consumer',
      'biling',
    ]);
    expect(unknownConsumer.code).toBe(CliExitCode.Usage);
    expect(unknownConsumer.stderr).toMatch(
      /no delivery for consumer "biling"\. Did you mean "billing"\?/,
    );
    const processed = await cli([
      'dead-letters',
      'replay',
      ids.get('i5')!,
      '--consumer',
      'billing',
    ]);
    expect(processed.code).toBe(CliExitCode.Usage);
    expect(processed.stderr).toMatch(/it is processed/);
    expect(await deliveries()).toEqual(before);
    expect(await audit()).toEqual([]);

    const missing = await cli(['dead-letters', 'list', '--schema', 'elsewhere']);
    expect(missing.code).toBe(CliExitCode.Failed);
    expect(missing.stderr).toMatch(/run "nestjs-integration migrate" \(same --schema\) first/);
  });

  it('the usage lists the stats and dead-letters commands', async () => {
    const run = await runCliInProcess(['--help']);
    expect(run.stdout).toMatch(/\n {2}stats \[--minutes <n>\]/);
    for (const sub of ['list', 'show', 'replay', 'discard', 'purge']) {
      expect(run.stdout).toContain(`dead-letters ${sub} `);
    }
    expect(run.stdout).toContain('--json');
    expect(run.stdout).toContain('--dry-run');
  });
});
