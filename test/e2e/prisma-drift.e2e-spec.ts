import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { compareSchema, readLiveColumns, readPrismaModels } from '../support/schema-drift';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('Prisma schema vs migrated database', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('every model field matches a column (name, type, nullability) and every column a field', async () => {
    const problems = compareSchema(readPrismaModels(), await readLiveColumns(db.url));
    expect(problems).toEqual([]);
  });

  it('reports a field added to the Prisma schema without a migration', async () => {
    const schema = readFileSync(
      path.resolve(__dirname, '../../prisma/schema.prisma'),
      'utf8',
    ).replace(
      '  idempotencyKey String?   @map("idempotency_key")',
      '  idempotencyKey String?   @map("idempotency_key")\n  priority       Int       @default(0)',
    );
    const problems = compareSchema(readPrismaModels(schema), await readLiveColumns(db.url));
    expect(problems).toEqual([
      'OutboxEvent.priority (outbox_event.priority): column does not exist',
    ]);
  });

  it('reports a column missing from the database, a type change and a nullability change', async () => {
    const other = await createTestDatabase();
    const client = new Client({ connectionString: other.url });
    await client.connect();
    try {
      await client.query('ALTER TABLE inbox_event DROP COLUMN payload_hash');
      await client.query('ALTER TABLE integration_link ALTER COLUMN metadata TYPE json');
      await client.query('ALTER TABLE vault ALTER COLUMN closed_at SET NOT NULL');
      const problems = compareSchema(readPrismaModels(), await readLiveColumns(other.url));
      expect(problems).toEqual([
        'InboxEvent.payloadHash (inbox_event.payload_hash): column does not exist',
        'IntegrationLink.metadata (integration_link.metadata): Prisma expects jsonb, database has json',
        'Vault.closedAt (vault.closed_at): Prisma says optional, column is NOT NULL',
      ]);
    } finally {
      await client.end();
      await other.drop();
    }
  });

  it('checks Unsupported("xid8") / Unsupported("pg_snapshot") fields and list types too', async () => {
    const other = await createTestDatabase();
    const client = new Client({ connectionString: other.url });
    await client.connect();
    try {
      await client.query('ALTER TABLE outbox_event DROP COLUMN tx_id');
      await client.query('ALTER TABLE integration_sequencer ALTER COLUMN horizon DROP NOT NULL');
      await client.query(
        'ALTER TABLE integration_sequencer ALTER COLUMN after_tx TYPE xid USING NULL',
      );
      await client.query(
        "ALTER TABLE integration_consumer ALTER COLUMN patterns TYPE text USING array_to_string(patterns, ',')",
      );
      const problems = compareSchema(readPrismaModels(), await readLiveColumns(other.url));
      expect(problems).toEqual([
        'OutboxEvent.txId (outbox_event.tx_id): column does not exist',
        'IntegrationConsumer.patterns (integration_consumer.patterns): Prisma expects _text, database has text',
        'IntegrationSequencer.horizon (integration_sequencer.horizon): Prisma says required, column is NULL',
        'IntegrationSequencer.afterTx (integration_sequencer.after_tx): Prisma expects xid8, database has xid',
      ]);
    } finally {
      await client.end();
      await other.drop();
    }
  });

  it('reports a table without a model and a column without a field', async () => {
    const other = await createTestDatabase();
    const client = new Client({ connectionString: other.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE stray (id int)');
      await client.query('ALTER TABLE vault ADD COLUMN nickname text');
      const problems = compareSchema(readPrismaModels(), await readLiveColumns(other.url));
      expect(problems).toEqual([
        'vault.nickname: column has no field in model Vault',
        'table "stray" has no Prisma model',
      ]);
    } finally {
      await client.end();
      await other.drop();
    }
  });
});
