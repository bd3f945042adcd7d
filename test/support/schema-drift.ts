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

/** Parses a Prisma schema with Prisma's schema engine (WebAssembly build). */
export function readPrismaModels(
  schema = readFileSync(path.resolve(__dirname, '../../prisma/schema.prisma'), 'utf8'),
): DmmfModel[] {
  const dmmf = JSON.parse(
    get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] })),
  ) as {
    datamodel: { models: DmmfModel[] };
  };
  return dmmf.datamodel.models;
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

/** The PostgreSQL type (udt_name) a Prisma scalar maps to. */
export function expectedUdt(field: DmmfField): string {
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
