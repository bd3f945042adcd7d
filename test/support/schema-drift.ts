import { readFileSync } from 'node:fs';
import path from 'node:path';
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { Client } from 'pg';

/** One field of a Prisma model, as Prisma's own schema parser (DMMF) sees it. */
interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
}
interface DmmfModel {
  name: string;
  dbName?: string | null;
  fields: DmmfField[];
}

/** A column as information_schema reports it. */
export interface LiveColumn {
  table: string;
  column: string;
  udt: string;
  nullable: boolean;
}

/**
 * Parses a Prisma schema with Prisma's schema engine (WebAssembly build). The DMMF leaves out
 * `Unsupported("…")` fields (e.g. `xid8`, `pg_snapshot`), so those are read from the schema text
 * and added as `unsupported` fields whose `type` is the PostgreSQL type.
 */
export function readPrismaModels(
  schema = readFileSync(path.resolve(__dirname, '../../prisma/schema.prisma'), 'utf8'),
): DmmfModel[] {
  const dmmf = JSON.parse(
    get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] })),
  ) as {
    datamodel: { models: DmmfModel[] };
  };
  const unsupported = readUnsupportedFields(schema);
  return dmmf.datamodel.models.map((model) => ({
    ...model,
    fields: [...model.fields, ...(unsupported.get(model.name) ?? [])],
  }));
}

/** The `Unsupported("type")` fields of each model, from the schema text. */
function readUnsupportedFields(schema: string): Map<string, DmmfField[]> {
  const byModel = new Map<string, DmmfField[]>();
  for (const block of schema.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const fields: DmmfField[] = [];
    for (const line of block[2]!.split('\n')) {
      const field = /^\s*(\w+)\s+Unsupported\("([^"]+)"\)(\[\])?(\?)?(.*)$/.exec(line);
      if (!field) continue;
      fields.push({
        name: field[1]!,
        dbName: /@map\("([^"]+)"\)/.exec(field[5]!)?.[1] ?? null,
        kind: 'unsupported',
        isList: field[3] !== undefined,
        isRequired: field[4] === undefined,
        type: field[2]!,
      });
    }
    if (fields.length > 0) byModel.set(block[1]!, fields);
  }
  return byModel;
}

/** Reads every column of the public schema (Knex's own bookkeeping tables excluded). */
export async function readLiveColumns(url: string): Promise<LiveColumn[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      table_name: string;
      column_name: string;
      udt_name: string;
      is_nullable: string;
    }>(
      `select table_name, column_name, udt_name, is_nullable
         from information_schema.columns
        where table_schema = 'public' and table_name not like 'knex\\_migrations%'
        order by table_name, ordinal_position`,
    );
    return rows.map((r) => ({
      table: r.table_name,
      column: r.column_name,
      udt: r.udt_name,
      nullable: r.is_nullable === 'YES',
    }));
  } finally {
    await client.end();
  }
}

/**
 * The PostgreSQL type (udt_name) a Prisma field maps to: `Unsupported("xid8")` is `xid8`; a
 * list is the array type (`String[]` is `_text`).
 */
export function expectedUdt(field: DmmfField): string {
  if (field.isList) return `_${expectedUdt({ ...field, isList: false })}`;
  if (field.kind === 'unsupported') return field.type;
  const native = field.nativeType?.[0];
  if (native) {
    const byNative: Record<string, string> = {
      Uuid: 'uuid',
      Char: 'bpchar',
      VarChar: 'varchar',
      Text: 'text',
      Timestamptz: 'timestamptz',
      Timestamp: 'timestamp',
      Date: 'date',
      SmallInt: 'int2',
      Integer: 'int4',
      BigInt: 'int8',
      JsonB: 'jsonb',
      Json: 'json',
      DoublePrecision: 'float8',
      Decimal: 'numeric',
    };
    return byNative[native] ?? native.toLowerCase();
  }
  const byScalar: Record<string, string> = {
    String: 'text',
    Int: 'int4',
    BigInt: 'int8',
    Boolean: 'bool',
    DateTime: 'timestamp',
    Json: 'jsonb',
    Float: 'float8',
    Decimal: 'numeric',
    Bytes: 'bytea',
  };
  return byScalar[field.type] ?? `unknown:${field.type}`;
}

/** Every difference between the Prisma models and the live columns; empty when they agree. */
export function compareSchema(models: DmmfModel[], columns: LiveColumn[]): string[] {
  const problems: string[] = [];
  const byTable = new Map<string, Map<string, LiveColumn>>();
  for (const c of columns) {
    if (!byTable.has(c.table)) byTable.set(c.table, new Map());
    byTable.get(c.table)!.set(c.column, c);
  }
  const modelled = new Set<string>();
  for (const model of models) {
    const table = model.dbName ?? model.name;
    modelled.add(table);
    const live = byTable.get(table);
    if (!live) {
      problems.push(`model ${model.name}: table "${table}" does not exist`);
      continue;
    }
    const seen = new Set<string>();
    for (const field of model.fields) {
      if (field.kind === 'object') continue; // relation fields have no column
      const column = field.dbName ?? field.name;
      seen.add(column);
      const c = live.get(column);
      const where = `${model.name}.${field.name} (${table}.${column})`;
      if (!c) {
        problems.push(`${where}: column does not exist`);
        continue;
      }
      const udt = expectedUdt(field);
      if (c.udt !== udt) problems.push(`${where}: Prisma expects ${udt}, database has ${c.udt}`);
      if (c.nullable === field.isRequired) {
        problems.push(
          `${where}: Prisma says ${field.isRequired ? 'required' : 'optional'}, column is ${c.nullable ? 'NULL' : 'NOT NULL'}`,
        );
      }
    }
    for (const column of live.keys()) {
      if (!seen.has(column))
        problems.push(`${table}.${column}: column has no field in model ${model.name}`);
    }
  }
  for (const table of byTable.keys()) {
    if (!modelled.has(table)) problems.push(`table "${table}" has no Prisma model`);
  }
  return problems;
}

/** The module's tables: what the SQL migrations, the CLI and the Knex source create. */
export const MODULE_TABLES = [
  'outbox_event',
  'inbox_event',
  'integration_link',
  'integration_consumer',
  'integration_consumer_host',
  'integration_delivery',
  'integration_sequencer',
  'integration_audit',
  'integration_consumer_stats',
] as const;

/**
 * Everything PostgreSQL knows about some tables of one schema, one line per fact, keyed by
 * table: columns in order (type, nullability, default, identity, generated, comment),
 * indexes, constraints, identity sequences, triggers, persistence, options and comments.
 * Definitions are printed with the schema on the search path, so two schemas with the same
 * tables give the same snapshot.
 */
export type SchemaSnapshot = Record<string, string[]>;

export async function readSchemaSnapshot(
  url: string,
  options: { schema?: string; tables?: readonly string[] } = {},
): Promise<SchemaSnapshot> {
  const schema = options.schema ?? 'public';
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    // Unqualified names in pg_get_*def output for objects of this schema.
    await client.query(`SELECT set_config('search_path', $1, false)`, [
      client.escapeIdentifier(schema),
    ]);
    const { rows: tables } = await client.query<{
      oid: number;
      relname: string;
      relpersistence: string;
      reloptions: string[] | null;
      comment: string | null;
    }>(
      `SELECT c.oid, c.relname, c.relpersistence, c.reloptions, obj_description(c.oid, 'pg_class') AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
          AND ($2::text[] IS NULL OR c.relname = ANY($2))
        ORDER BY c.relname`,
      [schema, options.tables ?? null],
    );
    const snapshot: SchemaSnapshot = {};
    for (const table of tables) {
      const facts: string[] = [
        `persistence ${table.relpersistence}`,
        `options ${JSON.stringify(table.reloptions)}`,
        `comment ${JSON.stringify(table.comment)}`,
      ];
      const { rows: columns } = await client.query<Record<string, unknown>>(
        `SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity, a.attgenerated,
                col_description(a.attrelid, a.attnum) AS comment,
                (SELECT collname FROM pg_collation WHERE oid = a.attcollation) AS collation
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [table.oid],
      );
      let position = 0;
      for (const c of columns) {
        position += 1;
        facts.push(
          `column #${position} ${String(c.attname)} ${String(c.type)}${c.attnotnull ? ' NOT NULL' : ''}` +
            ` default=${String(c.default)} identity=${String(c.attidentity) || '-'}` +
            ` generated=${String(c.attgenerated) || '-'} collation=${String(c.collation)}` +
            ` comment=${JSON.stringify(c.comment)}`,
        );
      }
      const { rows: indexes } = await client.query<{ def: string }>(
        `SELECT pg_get_indexdef(indexrelid, 0, true) AS def FROM pg_index WHERE indrelid = $1`,
        [table.oid],
      );
      facts.push(...indexes.map((i) => `index ${i.def}`));
      const { rows: constraints } = await client.query<{ def: string }>(
        `SELECT conname || ' ' || contype::text || ' ' || pg_get_constraintdef(oid, true)
                || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END AS def
           FROM pg_constraint WHERE conrelid = $1`,
        [table.oid],
      );
      facts.push(...constraints.map((c) => `constraint ${c.def}`));
      const { rows: sequences } = await client.query<{ def: string }>(
        `SELECT concat_ws(' ', s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
                          q.seqmin, q.seqmax, q.seqcache, q.seqcycle, d.deptype) AS def
           FROM pg_depend d
           JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
           JOIN pg_sequence q ON q.seqrelid = s.oid
          WHERE d.refobjid = $1 AND d.classid = 'pg_class'::regclass`,
        [table.oid],
      );
      facts.push(...sequences.map((s) => `sequence ${s.def}`));
      const { rows: triggers } = await client.query<{ def: string }>(
        `SELECT pg_get_triggerdef(oid, true) AS def FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal`,
        [table.oid],
      );
      facts.push(...triggers.map((t) => `trigger ${t.def}`));
      snapshot[table.relname] = [
        ...facts.filter((f) => f.startsWith('column ')),
        ...facts.filter((f) => !f.startsWith('column ')).sort(),
      ];
    }
    return snapshot;
  } finally {
    await client.end();
  }
}

/** Every difference between two snapshots (`expected` is the reference); empty when equal. */
export function compareSnapshots(expected: SchemaSnapshot, actual: SchemaSnapshot): string[] {
  const problems: string[] = [];
  for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const want = expected[table];
    const got = actual[table];
    if (!want) {
      problems.push(`table "${table}" is unexpected`);
      continue;
    }
    if (!got) {
      problems.push(`table "${table}" is missing`);
      continue;
    }
    for (const fact of want) if (!got.includes(fact)) problems.push(`${table}: missing ${fact}`);
    for (const fact of got) if (!want.includes(fact)) problems.push(`${table}: unexpected ${fact}`);
  }
  return problems;
}
