import { Test, type TestingModule } from '@nestjs/testing';
import { Pool } from 'pg';
import { CliExitCode } from '../../src/integration/cli/cli';
import { ConsumerDirectoryRepository } from '../../src/integration/consumers/consumer-directory.repository';
import {
  ConsumerDirectory,
  ConsumerHeartbeatState,
} from '../../src/integration/consumers/consumer-directory.service';
import { consumerPatternRegex } from '../../src/integration/consumers/consumer-pattern';
import { ConsumerStatus } from '../../src/integration/consumers/consumer.types';
import { renderIntegrationMigration } from '../../src/integration/database/integration-migrations';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import { pgAdapter } from '../../src/integration/database/pg.adapter';
import { InvalidConsumerNameError } from '../../src/integration/errors/invalid-consumer-name.error';
import { InvalidQueryError } from '../../src/integration/errors/invalid-query.error';
import { UnknownConsumerError } from '../../src/integration/errors/unknown-consumer.error';
import { INTEGRATION_OPTIONS } from '../../src/integration/integration.constants';
import { resolveOptions } from '../../src/integration/integration.options';
import { compileEventPattern } from '../../src/integration/subscribers/event-pattern';
import { EventSubscriberRegistry } from '../../src/integration/subscribers/event-subscriber.registry';
import { CaptureLogger } from '../support/capture-logger';
import { generatePatternsAndNames } from '../support/event-pattern-samples';
import { createOrm } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { runCliInProcess } from '../support/cli-process';

const cli = runCliInProcess;

describe('consumer directory (issue 13: per-consumer delivery)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const modules: TestingModule[] = [];
  const repository = new ConsumerDirectoryRepository(new IntegrationTables());
  const root = () => pgAdapter(pool).root;
  let position = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    // The run's template is migrated through the app's Knex migrations, which may not carry
    // 0002 yet: apply it here when its tables are missing.
    const { rows } = await pool.query<{ present: boolean }>(
      `SELECT to_regclass('public.integration_consumer') IS NOT NULL AS present`,
    );
    if (!rows[0]!.present) {
      await pool.query(renderIntegrationMigration({ id: '0002_per_consumer_delivery' }, 'up'));
    }
  });

  afterEach(async () => {
    await Promise.all(modules.splice(0).map((m) => m.close()));
    await pool.query(
      'TRUNCATE integration_consumer, integration_consumer_host, integration_delivery',
    );
  });

  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  /** A registry holding one no-op handler per (consumer, pattern). */
  function registryOf(consumers: Record<string, string[]>): EventSubscriberRegistry {
    const registry = new EventSubscriberRegistry();
    for (const [consumer, patterns] of Object.entries(consumers)) {
      patterns.forEach((pattern, i) =>
        registry.register({
          consumer,
          pattern,
          name: `${consumer}.h${i}`,
          handle: () => undefined,
        }),
      );
    }
    return registry;
  }

  /** A ConsumerDirectory wired by Nest, as the module will, with a logger to assert on. */
  async function directoryOf(
    consumers: Record<string, string[]>,
    workerId = 'worker-a',
  ): Promise<{ directory: ConsumerDirectory; logs: CaptureLogger }> {
    const options = resolveOptions({ database: pgAdapter(pool), processor: { workerId } });
    const module = await Test.createTestingModule({
      providers: [
        { provide: INTEGRATION_OPTIONS, useValue: options },
        { provide: IntegrationTables, useValue: new IntegrationTables() },
        { provide: EventSubscriberRegistry, useValue: registryOf(consumers) },
        ConsumerDirectoryRepository,
        ConsumerDirectory,
      ],
    }).compile();
    const logs = new CaptureLogger();
    module.useLogger(logs);
    modules.push(module);
    return { directory: module.get(ConsumerDirectory), logs };
  }

  async function consumerRow(name: string) {
    const { rows } = await pool.query<{
      status: string;
      patterns: string[];
      pattern_regex: string;
      retired: boolean;
    }>(
      `SELECT status, patterns, pattern_regex, retired_at IS NOT NULL AS retired
         FROM integration_consumer WHERE name = $1`,
      [name],
    );
    return rows[0];
  }

  async function hostRows() {
    const { rows } = await pool.query<{ consumer_name: string; worker_id: string }>(
      'SELECT consumer_name, worker_id FROM integration_consumer_host ORDER BY 1, 2',
    );
    return rows;
  }

  /** Inserts one delivery per status given, for `consumer`; returns their event ids by status. */
  async function insertDeliveries(
    consumer: string,
    statuses: string[],
  ): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const status of statuses) {
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status,
           locked_by, locked_until, last_error, processed_at)
         VALUES (gen_random_uuid(), $1, $2, 'k', $3,
           CASE WHEN $3 = 'processing' THEN 'worker-a' END,
           CASE WHEN $3 = 'processing' THEN now() + interval '1 minute' END,
           CASE WHEN $3 = 'dead_letter' THEN 'boom' END,
           CASE WHEN $3 = 'processed' THEN now() END)
         RETURNING event_id::text AS id`,
        [consumer, ++position, status],
      );
      ids.set(status, rows[0]!.id);
    }
    return ids;
  }

  async function deliveries(consumer: string) {
    const { rows } = await pool.query<{
      event_id: string;
      status: string;
      last_error: string | null;
      locked_by: string | null;
    }>(
      `SELECT event_id::text, status, last_error, locked_by FROM integration_delivery
        WHERE consumer_name = $1 ORDER BY position`,
      [consumer],
    );
    return rows;
  }

  describe('announce', () => {
    it('registers new consumers with their patterns and regex, hosts them, and logs each once', async () => {
      const { directory, logs } = await directoryOf({
        billing: ['billing.*', 'invoice.**', 'billing.*'],
        audit: ['**'],
      });
      expect(await directory.announceHosted()).toEqual(['billing', 'audit']);
      expect(await consumerRow('billing')).toEqual({
        status: 'active',
        patterns: ['billing.*', 'invoice.**'],
        pattern_regex: consumerPatternRegex(['billing.*', 'invoice.**']),
        retired: false,
      });
      expect(await hostRows()).toEqual([
        { consumer_name: 'audit', worker_id: 'worker-a' },
        { consumer_name: 'billing', worker_id: 'worker-a' },
      ]);
      expect(
        logs.matching(/^Consumer billing registered for billing\.\*, invoice\.\*\*$/),
      ).toHaveLength(1);
      expect(logs.matching(/^Consumer audit registered for \*\*$/)).toHaveLength(1);

      // A second instance announcing the same consumers creates nothing and logs nothing.
      const other = await directoryOf({ billing: ['billing.*', 'invoice.**'] }, 'worker-b');
      expect(await other.directory.announceHosted()).toEqual(['billing']);
      expect(other.logs.matching(/^Consumer /)).toEqual([]);
      expect(await hostRows()).toHaveLength(3);
    });

    it('replaces the patterns and regex of a known consumer and leaves its status alone', async () => {
      await (await directoryOf({ billing: ['billing.*'] })).directory.announceHosted();
      const { rows: before } = await pool.query<{ updated_at: Date }>(
        `SELECT updated_at FROM integration_consumer WHERE name = 'billing'`,
      );
      const { directory, logs } = await directoryOf({ billing: ['billing.**', 'refund.*'] });
      expect(await directory.announceHosted()).toEqual(['billing']);
      expect(await consumerRow('billing')).toMatchObject({
        status: 'active',
        patterns: ['billing.**', 'refund.*'],
        pattern_regex: consumerPatternRegex(['billing.**', 'refund.*']),
      });
      expect(
        logs.matching(/^Consumer billing now handles billing\.\*\*, refund\.\*$/),
      ).toHaveLength(1);
      expect(logs.matching(/registered/)).toEqual([]);
      const { rows: after } = await pool.query<{ updated_at: Date }>(
        `SELECT updated_at FROM integration_consumer WHERE name = 'billing'`,
      );
      expect(after[0]!.updated_at.getTime()).toBeGreaterThanOrEqual(
        before[0]!.updated_at.getTime(),
      );
    });

    it('keeps a retired consumer retired, reports it as an error and does not return it', async () => {
      const first = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      await first.directory.announceHosted();
      await first.directory.retire('billing', { reason: 'moved to billing-v2' });

      const { directory, logs } = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      expect(await directory.announceHosted()).toEqual(['audit']);
      expect((await consumerRow('billing'))!.status).toBe('retired');
      const errors = logs.lines.filter((l) => l.level === 'error');
      expect(errors.map((l) => l.message)).toEqual([
        "Consumer billing is retired: its handlers here get no deliveries. Reactivate it with ConsumerDirectory.reactivate('billing') or `npx nestjs-integration consumers reactivate billing`",
      ]);
    });

    it('announces nothing for a registry without consumers', async () => {
      const { directory } = await directoryOf({});
      expect(await directory.announceHosted()).toEqual([]);
      expect(await directory.list()).toEqual([]);
      await directory.stop();
    });
  });

  describe('hosts', () => {
    it('heartbeat touches only this worker, removeHost and removeStaleHosts delete', async () => {
      await (
        await directoryOf({ billing: ['billing.*'], audit: ['**'] }, 'worker-a')
      ).directory.announceHosted();
      await (await directoryOf({ billing: ['billing.*'] }, 'worker-b')).directory.announceHosted();
      await pool.query(
        `UPDATE integration_consumer_host SET heartbeat_at = now() - interval '1 hour'`,
      );
      expect(await repository.heartbeat(root(), 'worker-a')).toBe(2);
      const { rows } = await pool.query<{ worker_id: string; fresh: boolean }>(
        `SELECT worker_id, heartbeat_at > now() - interval '1 minute' AS fresh
           FROM integration_consumer_host ORDER BY consumer_name, worker_id`,
      );
      expect(rows).toEqual([
        { worker_id: 'worker-a', fresh: true },
        { worker_id: 'worker-a', fresh: true },
        { worker_id: 'worker-b', fresh: false },
      ]);
      expect(await repository.removeStaleHosts(root(), 60_000)).toBe(1);
      expect(await repository.heartbeat(root(), 'worker-b')).toBe(0);
      expect(await repository.removeHost(root(), 'worker-a')).toBe(2);
      expect(await hostRows()).toEqual([]);
    });

    it('counts the same through the Prisma adapter (its raw queries report no affected rows)', async () => {
      await (
        await directoryOf({ billing: ['billing.*'], audit: ['**'] }, 'worker-a')
      ).directory.announceHosted();
      const prisma = createOrm('prisma', db.url);
      try {
        const sql = prisma.adapter.root;
        // Counted as 0 before: every heartbeat of a Prisma app re-announced its consumers and
        // warned that its host rows were gone.
        expect(await repository.heartbeat(sql, 'worker-a')).toBe(2);
        await pool.query(`UPDATE integration_consumer SET status = 'retired' WHERE name = 'audit'`);
        expect(await repository.reactivate(sql, 'audit')).toBe(true);
        expect(await repository.removeStaleHosts(sql, 0)).toBe(2);
        await (
          await directoryOf({ billing: ['billing.*'] }, 'worker-a')
        ).directory.announceHosted();
        expect(await repository.removeHost(sql, 'worker-a')).toBe(1);
      } finally {
        await prisma.close();
      }
    });

    it('the heartbeat keeps host rows fresh, puts back removed ones, and stop removes them', async () => {
      const { directory, logs } = await directoryOf({ billing: ['billing.*'] });
      await directory.announceHosted();
      await pool.query(
        `UPDATE integration_consumer_host SET heartbeat_at = now() - interval '1 hour'`,
      );
      directory.startHeartbeat(20);
      expect(directory.heartbeatState).toBe(ConsumerHeartbeatState.Running);
      await waitFor(
        async () =>
          (
            await pool.query(
              `SELECT 1 FROM integration_consumer_host WHERE heartbeat_at > now() - interval '1 minute'`,
            )
          ).rowCount === 1,
        10_000,
        'a heartbeat',
      );

      // Removed as stale (e.g. after a long pause): the next heartbeat announces again.
      await pool.query('DELETE FROM integration_consumer_host');
      await waitFor(async () => (await hostRows()).length === 1, 10_000, 'the host row back');
      await waitFor(() => logs.matching(/host rows of worker-a were gone/).length > 0);

      await directory.stop();
      expect(directory.heartbeatState).toBe(ConsumerHeartbeatState.Stopped);
      expect(await hostRows()).toEqual([]);
    });

    it('refuses a heartbeat interval that is not a positive integer', async () => {
      const { directory } = await directoryOf({ billing: ['billing.*'] });
      for (const bad of [0, -5, 1.5, Number.NaN, 86_400_001]) {
        expect(() => directory.startHeartbeat(bad)).toThrow(InvalidQueryError);
      }
      expect(directory.heartbeatState).toBe(ConsumerHeartbeatState.Idle);
    });
  });

  describe('retire and reactivate', () => {
    it('retire skips pending, processing and dead-letter deliveries in one go, not finished ones nor other consumers', async () => {
      const { directory, logs } = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      await directory.announceHosted();
      const ids = await insertDeliveries('billing', [
        'pending',
        'processing',
        'dead_letter',
        'processed',
        'skipped',
      ]);
      await insertDeliveries('audit', ['pending', 'processing']);

      expect(await directory.retire('billing', { reason: 'moved to billing-v2' })).toEqual({
        retired: true,
        skipped: 3,
      });
      const retired = 'consumer retired: moved to billing-v2';
      expect(await deliveries('billing')).toEqual([
        { event_id: ids.get('pending'), status: 'skipped', last_error: retired, locked_by: null },
        {
          event_id: ids.get('processing'),
          status: 'skipped',
          last_error: retired,
          locked_by: null,
        },
        {
          event_id: ids.get('dead_letter'),
          status: 'skipped',
          last_error: retired,
          locked_by: null,
        },
        { event_id: ids.get('processed'), status: 'processed', last_error: null, locked_by: null },
        { event_id: ids.get('skipped'), status: 'skipped', last_error: null, locked_by: null },
      ]);
      expect((await deliveries('audit')).map((d) => d.status)).toEqual(['pending', 'processing']);
      expect(await consumerRow('billing')).toMatchObject({ status: 'retired', retired: true });
      expect(
        logs.matching(/^Consumer billing retired \(moved to billing-v2\): 3 unfinished/),
      ).toHaveLength(1);

      // Retiring again: not retired anew, but a delivery fanned out meanwhile is skipped too.
      expect(await directory.retire('billing')).toEqual({ retired: false, skipped: 0 });
      await insertDeliveries('billing', ['pending']);
      expect(await directory.retire('billing')).toEqual({ retired: false, skipped: 1 });
      expect((await deliveries('billing')).at(-1)!.last_error).toBe(
        'consumer retired: retired by an operator',
      );
    });

    it('reactivate makes a retired consumer active; false when it is active already', async () => {
      const { directory, logs } = await directoryOf({ billing: ['billing.*'] });
      await directory.announceHosted();
      expect(await directory.reactivate('billing')).toBe(false);
      await directory.retire('billing');
      expect(await directory.reactivate('billing')).toBe(true);
      expect(await consumerRow('billing')).toMatchObject({ status: 'active', retired: false });
      expect(logs.matching(/^Consumer billing reactivated$/)).toHaveLength(1);
      expect(await directory.announceHosted()).toEqual(['billing']);
    });

    it('list and find return status, hosts and unfinished deliveries', async () => {
      const { directory } = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      await directory.announceHosted();
      await (await directoryOf({ billing: ['billing.*'] }, 'worker-b')).directory.announceHosted();
      await pool.query(
        `UPDATE integration_consumer_host SET heartbeat_at = now() - interval '2 minutes'
          WHERE worker_id = 'worker-b'`,
      );
      await insertDeliveries('billing', [
        'pending',
        'pending',
        'processing',
        'dead_letter',
        'processed',
      ]);
      await directory.retire('audit');

      const list = await directory.list();
      expect(list.map((c) => [c.name, c.status])).toEqual([
        ['audit', ConsumerStatus.Retired],
        ['billing', ConsumerStatus.Active],
      ]);
      const billing = await directory.find('billing');
      expect(billing).toEqual({
        ...list[1],
        hosts: list[1]!.hosts.map((h, i) => ({
          ...h,
          heartbeatAgeMs: billing!.hosts[i]!.heartbeatAgeMs,
        })),
      });
      expect(billing).toMatchObject({
        name: 'billing',
        patterns: ['billing.*'],
        status: ConsumerStatus.Active,
        retiredAt: null,
        deliveries: { pending: 2, processing: 1, deadLetter: 1 },
      });
      expect(billing!.createdAt).toBeInstanceOf(Date);
      expect(billing!.hosts.map((h) => [h.workerId, h.alive])).toEqual([
        ['worker-a', true],
        ['worker-b', false],
      ]);
      expect(billing!.hosts[1]!.heartbeatAgeMs).toBeGreaterThanOrEqual(120_000);
      expect(billing!.hosts[0]!.heartbeatAt).toBeInstanceOf(Date);
      expect(list[0]!.retiredAt).toBeInstanceOf(Date);
      expect(await directory.find('nobody')).toBeUndefined();
    });

    it('refuses bad and unknown names with typed errors, suggesting the closest known one', async () => {
      const { directory } = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      await directory.announceHosted();
      for (const bad of ['', '1billing', 'bill ing', 'x'.repeat(101), 42 as unknown as string]) {
        await expect(directory.retire(bad)).rejects.toThrow(InvalidConsumerNameError);
        await expect(directory.reactivate(bad)).rejects.toThrow(InvalidConsumerNameError);
        await expect(directory.find(bad)).rejects.toThrow(InvalidConsumerNameError);
      }
      const unknown = await directory.retire('biling').catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(UnknownConsumerError);
      expect(unknown).toMatchObject({ consumer: 'biling', closest: 'billing' });
      expect((unknown as Error).message).toMatch(/Did you mean "billing"\?/);
      await expect(directory.reactivate('adit')).rejects.toMatchObject({
        name: 'UnknownConsumerError',
        closest: 'audit',
      });
      await expect(directory.retire('billing', { reasn: 'x' } as never)).rejects.toThrow(
        /options\.reasn is not an option: did you mean options\.reason\?/,
      );
      await expect(directory.retire('billing', { reason: '  ' })).rejects.toThrow(
        InvalidQueryError,
      );
      // Nothing was retired by the refused calls.
      expect((await consumerRow('billing'))!.status).toBe('active');
    });
  });

  it("PostgreSQL's ~ agrees with JavaScript and compileEventPattern on the generated regexes", async () => {
    const { patterns, names } = generatePatternsAndNames(29, 120);
    const sets = patterns.map((p, i) => [p, patterns[(i * 5 + 1) % patterns.length]!]);
    const regexes = sets.map(consumerPatternRegex);
    const { rows } = await pool.query<{ r: number; n: number; matches: boolean }>(
      `SELECT r.i::int - 1 AS r, n.j::int - 1 AS n, ('.' || n.name) ~ r.regex AS matches
         FROM unnest($1::text[]) WITH ORDINALITY AS r(regex, i)
        CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS n(name, j)`,
      [regexes, names],
    );
    expect(rows).toHaveLength(sets.length * names.length);
    let matches = 0;
    const disagreements: string[] = [];
    for (const row of rows) {
      const name = names[row.n]!;
      const expected = sets[row.r]!.some((p) => compileEventPattern(p)(name));
      const js = new RegExp(regexes[row.r]!).test(`.${name}`);
      if (row.matches !== expected || js !== expected) {
        disagreements.push(
          `${JSON.stringify(sets[row.r])} on ${name}: pg ${row.matches}, js ${js}`,
        );
      }
      if (expected) matches++;
    }
    expect(disagreements).toEqual([]);
    expect(matches).toBeGreaterThan(rows.length / 50);

    // The stored column, as the sequencer will use it.
    await (
      await directoryOf({ billing: ['billing.*'], audit: ['**.paid'], all: ['**'] })
    ).directory.announceHosted();
    const matching = async (event: string) =>
      (
        await pool.query<{ name: string }>(
          `SELECT name FROM integration_consumer WHERE '.' || $1::text ~ pattern_regex ORDER BY name`,
          [event],
        )
      ).rows.map((r) => r.name);
    expect(await matching('billing.paid')).toEqual(['all', 'audit', 'billing']);
    expect(await matching('billing.invoice.paid')).toEqual(['all', 'audit']);
    expect(await matching('vault.locked')).toEqual(['all']);
  });

  describe('CLI: nestjs-integration consumers', () => {
    it('list, retire and reactivate', async () => {
      const { directory } = await directoryOf({ billing: ['billing.*'], audit: ['**'] });
      await directory.announceHosted();
      await insertDeliveries('billing', ['pending', 'processing', 'dead_letter', 'processed']);
      const url = ['--database-url', db.url];

      const list = await cli(['consumers', 'list', ...url]);
      expect(list).toEqual({
        code: CliExitCode.Ok,
        stdout: [
          'NAME     STATUS  HOSTS ALIVE  PENDING  PROCESSING  DEAD LETTERS',
          'audit    active          1/1        0           0             0',
          'billing  active          1/1        1           1             1',
          '',
        ].join('\n'),
        stderr: '',
      });

      const retire = await cli(['consumers', 'retire', 'billing', '--reason', 'gone'], {
        DATABASE_URL: db.url,
      });
      expect(retire).toEqual({
        code: CliExitCode.Ok,
        stdout:
          'Retired consumer "billing" (consumer retired: gone); 3 unfinished deliveries skipped\n',
        stderr: '',
      });
      expect((await deliveries('billing')).map((d) => d.last_error)).toEqual([
        'consumer retired: gone',
        'consumer retired: gone',
        'consumer retired: gone',
        null,
      ]);
      expect((await cli(['consumers', 'list', ...url])).stdout).toMatch(
        /^billing +retired +1\/1 +0 +0 +0$/m,
      );
      expect((await cli(['consumers', 'retire', 'billing', ...url])).stdout).toMatch(
        /^Already retired: consumer "billing" \(consumer retired: retired by an operator\); 0/,
      );

      const reactivate = await cli(['consumers', 'reactivate', 'billing', ...url]);
      expect(reactivate.code).toBe(CliExitCode.Ok);
      expect(reactivate.stdout).toMatch(/^Reactivated consumer "billing"/);
      expect((await consumerRow('billing'))!.status).toBe('active');
      expect((await cli(['consumers', 'reactivate', 'billing', ...url])).stdout).toBe(
        'Consumer "billing" is active already\n',
      );
    });

    it('lists nothing yet with a hint', async () => {
      const run = await cli(['consumers', 'list', '--database-url', db.url]);
      expect(run.code).toBe(CliExitCode.Ok);
      expect(run.stdout).toMatch(/^No consumers in schema "public" yet/);
    });

    it('an unknown or invalid consumer name is exit code 2 with the closest known name', async () => {
      await (await directoryOf({ billing: ['billing.*'] })).directory.announceHosted();
      const unknown = await cli(['consumers', 'retire', 'biling', '--database-url', db.url]);
      expect(unknown.code).toBe(CliExitCode.Usage);
      expect(unknown.stdout).toBe('');
      expect(unknown.stderr).toMatch(/Consumer "biling" is unknown.*Did you mean "billing"\?/);
      const invalid = await cli(['consumers', 'reactivate', 'bad name', '--database-url', db.url]);
      expect(invalid.code).toBe(CliExitCode.Usage);
      expect(invalid.stderr).toMatch(/Invalid consumer name "bad name"/);
      expect((await consumerRow('billing'))!.status).toBe('active');
    });

    it.each([
      [['consumers'], /consumers needs a subcommand/],
      [['consumers', 'drop', 'x'], /unknown subcommand "consumers drop"/],
      [['consumers', 'retire'], /consumers retire needs a consumer name/],
      [['consumers', 'retire', 'a', 'b'], /unexpected argument "b"/],
      [['consumers', 'list', 'x'], /unexpected argument "x"/],
      [
        ['consumers', 'list', '--reason', 'x'],
        /--reason does not go with "consumers list" \(it goes with consumers retire and/,
      ],
      [['migrate', '--reason', 'x'], /--reason does not go with "migrate"/],
      [['consumers', 'list'], /no database: pass --database-url/],
    ])('refuses %j with exit code 2 before connecting', async (argv, message) => {
      const run = await cli(argv as string[]);
      expect(run.code).toBe(CliExitCode.Usage);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(/Run "nestjs-integration --help" for usage\.\n$/);
    });

    it('the usage lists the consumers commands', async () => {
      const run = await cli(['--help']);
      expect(run.stdout).toMatch(/consumers retire <name> \[--reason <t>\]/);
    });
  });
});
