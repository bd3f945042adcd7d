import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import { IntegrationTables } from '../database/integration-tables';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';

/** A table is analyzed once it holds at least this many pages (8 kB each by default). */
export const FIRST_STATISTICS_MIN_PAGES = 32;

/** At most one look at the tables' statistics per this many milliseconds. */
export const FIRST_STATISTICS_CHECK_INTERVAL_MS = 1_000;

/**
 * Per table, in input order: whether PostgreSQL has statistics for it (it was analyzed or
 * vacuumed at least once) and whether it has reached the size from which it is analyzed.
 */
const CHECK = `SELECT (t.ord - 1)::int AS index, c.reltuples >= 0 AS analyzed,
         pg_relation_size(c.oid) >= $2::bigint * current_setting('block_size')::bigint AS grown
    FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS t(name, ord)
    JOIN pg_class c ON c.oid = t.name::regclass`;

/**
 * The first statistics of the tables the processor's statements read as events flow: the outbox
 * and the deliveries.
 *
 * PostgreSQL plans a prepared statement once per connection and keeps that plan until the
 * statistics of its tables change. A table that was never analyzed is assumed to be small, so a
 * plan made while it is new reads it whole (for a small table that is cheapest), and keeps
 * doing so as it grows, until autovacuum first analyzes it: a minute or more after creation,
 * during which every claim and mark scans the table. Measured on the latency benchmark (a fresh
 * database, 500 events/s): p50 commit → handler 1.3–3.4 ms until then, 0.7 ms after.
 *
 * So the processor calls {@link refresh} after sequencer runs that fanned out events: it
 * analyzes each of these tables once, as soon as it holds {@link FIRST_STATISTICS_MIN_PAGES}
 * pages and if nothing analyzed it before (autovacuum, a DBA), then never looks again. ANALYZE
 * samples a bounded number of rows and takes no lock that writers wait for. A role that may not
 * analyze a table gets a warning from PostgreSQL, not an error, and autovacuum does it later.
 */
@Injectable()
export class TableStatistics {
  private readonly logger = new Logger('TableStatistics');
  /** Tables not known to have statistics yet. */
  private readonly waiting: string[];
  private checking = false;
  private nextCheckAt = 0;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    tables: IntegrationTables,
  ) {
    this.waiting = [tables.outbox, tables.delivery];
  }

  /** True once every table has statistics (analyzed here or elsewhere): nothing left to do. */
  get settled(): boolean {
    return this.waiting.length === 0;
  }

  /**
   * Analyzes the tables that have grown without statistics. Does nothing when settled, when
   * another call is under way, or within {@link FIRST_STATISTICS_CHECK_INTERVAL_MS} of the
   * last look. Never rejects: a failure is logged at debug level and looked at again later.
   */
  async refresh(): Promise<void> {
    if (this.settled || this.checking || Date.now() < this.nextCheckAt) return;
    this.checking = true;
    this.nextCheckAt = Date.now() + FIRST_STATISTICS_CHECK_INTERVAL_MS;
    try {
      await this.analyzeGrown();
    } catch (error) {
      this.logger.debug(`First statistics not taken yet: ${describeDatabaseError(error)}`);
    } finally {
      this.checking = false;
    }
  }

  private async analyzeGrown(): Promise<void> {
    const sql = this.options.database.root;
    const tables = [...this.waiting];
    const { rows } = await sql.query<{ index: number; analyzed: boolean; grown: boolean }>(CHECK, [
      JSON.stringify(tables),
      FIRST_STATISTICS_MIN_PAGES,
    ]);
    for (const row of rows) {
      const table = tables[row.index]!;
      if (!row.analyzed && !row.grown) continue;
      // Once per table and instance, whatever the outcome: autovacuum covers what this misses.
      this.waiting.splice(this.waiting.indexOf(table), 1);
      if (row.analyzed) continue;
      await sql.query(`ANALYZE ${table}`);
      this.logger.debug(
        `Analyzed ${table}: its first statistics (plans made while it was new are replaced)`,
      );
    }
  }
}
