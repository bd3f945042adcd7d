import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { IntegrationSchemaCheckFailedError } from '../errors/integration-schema-check-failed.error';
import { IntegrationSchemaMissingError } from '../errors/integration-schema-missing.error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { DEFAULT_INTEGRATION_SCHEMA } from './schema-name';
import { describeDatabaseError } from './database-error';
import { IntegrationTables } from './integration-tables';
import type { SqlExecutor } from './sql-executor';

/** The tables of this module and the columns its SQL uses (after every migration it ships). */
export const INTEGRATION_TABLES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  outbox_event: [
    'id',
    'seq',
    'event_name',
    'event_version',
    'source_module',
    'aggregate_type',
    'aggregate_id',
    'ordering_key',
    'payload',
    'headers',
    'tenant_id',
    'correlation_id',
    'causation_id',
    'idempotency_key',
    'available_at',
    'created_at',
    'tx_id',
  ],
  inbox_event: [
    'event_id',
    'consumer_name',
    'status',
    'attempt_count',
    'last_error',
    'payload_hash',
    'processed_at',
    'created_at',
    'updated_at',
    'tenant_id',
  ],
  integration_link: [
    'id',
    'source_module',
    'source_entity_type',
    'source_entity_id',
    'target_module',
    'target_entity_type',
    'target_entity_id',
    'link_type',
    'metadata',
    'tenant_id',
    'created_at',
    'updated_at',
  ],
  integration_consumer: [
    'name',
    'patterns',
    'pattern_regex',
    'status',
    'created_at',
    'updated_at',
    'retired_at',
  ],
  integration_consumer_host: ['consumer_name', 'worker_id', 'started_at', 'heartbeat_at'],
  integration_delivery: [
    'event_id',
    'consumer_name',
    'position',
    'ordering_key',
    'status',
    'attempt_count',
    'claim_count',
    'available_at',
    'locked_by',
    'locked_until',
    'last_error',
    'created_at',
    'updated_at',
    'processed_at',
    'tenant_id',
  ],
  integration_sequencer: [
    'id',
    'horizon',
    'window_snapshot',
    'after_tx',
    'after_seq',
    'next_position',
    'updated_at',
  ],
  integration_audit: [
    'id',
    'action',
    'actor',
    'reason',
    'target',
    'affected',
    'dry_run',
    'complete',
    'created_at',
    'tenant_id',
  ],
  integration_consumer_stats: [
    'bucket',
    'consumer_name',
    'worker_id',
    'processed',
    'retried',
    'dead_lettered',
    'latency_ms_sum',
    'latency_ms_max',
  ],
});

/**
 * Lists what is missing of {@link INTEGRATION_TABLES} in `schema` (the module's statements name
 * their tables qualified by it, so the connection's `search_path` plays no part). One catalog
 * query; the schema travels as a parameter.
 */
export async function findMissingSchema(
  sql: SqlExecutor,
  schema: string = DEFAULT_INTEGRATION_SCHEMA,
): Promise<{ tables: string[]; columns: string[] }> {
  const wanted = Object.entries(INTEGRATION_TABLES).flatMap(([table, columns]) =>
    columns.map((column) => ({ table_name: table, column_name: column })),
  );
  const { rows } = await sql.query<{
    table_name: string;
    column_name: string;
    table_exists: boolean;
  }>(
    `SELECT x.table_name, x.column_name, t.oid IS NOT NULL AS table_exists
       FROM jsonb_to_recordset($1::jsonb) AS x(table_name text, column_name text)
       LEFT JOIN LATERAL (SELECT to_regclass(format('%I.%I', $2::text, x.table_name))::oid AS oid) t
         ON true
      WHERE NOT EXISTS (
              SELECT 1 FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = t.oid AND a.attname = x.column_name
                 AND a.attnum > 0 AND NOT a.attisdropped)`,
    [JSON.stringify(wanted), schema],
  );
  const tables = new Set<string>();
  const columns: string[] = [];
  for (const row of rows) {
    if (row.table_exists) columns.push(`${row.table_name}.${row.column_name}`);
    else tables.add(row.table_name);
  }
  // Rows come back in no particular order: report both lists in declaration order.
  const order = Object.keys(INTEGRATION_TABLES);
  const declared = wanted.map((w) => `${w.table_name}.${w.column_name}`);
  return {
    tables: [...tables].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
    columns: columns.sort((a, b) => declared.indexOf(a) - declared.indexOf(b)),
  };
}

/**
 * Fails the bootstrap once, before the processor starts (`onModuleInit` runs before any
 * `onApplicationBootstrap`), when the module's tables or columns are missing: without it the
 * app would boot and every poll and publish would fail on a missing relation.
 * Off with `verifySchema: false`.
 */
@Injectable()
export class IntegrationSchemaVerifier implements OnModuleInit {
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly tables: IntegrationTables,
  ) {}

  /**
   * @throws IntegrationSchemaMissingError naming the missing tables / columns.
   * @throws IntegrationSchemaCheckFailedError when the database cannot be queried.
   */
  async onModuleInit(): Promise<void> {
    if (!this.options.verifySchema) return;
    let missing: { tables: string[]; columns: string[] };
    try {
      missing = await findMissingSchema(this.options.database.root, this.tables.schema);
    } catch (error) {
      throw new IntegrationSchemaCheckFailedError(describeDatabaseError(error), { cause: error });
    }
    if (missing.tables.length || missing.columns.length) {
      throw new IntegrationSchemaMissingError(missing.tables, missing.columns, this.tables.schema);
    }
  }
}
