/**
 * `npm run migrate:latest` / `npm run migrate:rollback [-- --all]`.
 * Uses DATABASE_URL, or the embedded server and data directory that `npm start` uses.
 */
import { bootstrapDatabase, databaseOptionsFromEnv } from '../src/database/database-bootstrap';
import { maskDatabaseUrl } from '../src/database/database-url';
import { migrateLatest, migrateRollback } from './migrator';

async function main(): Promise<void> {
  const [command, ...flags] = process.argv.slice(2);
  if (command !== 'latest' && command !== 'rollback') {
    console.error('usage: migrate latest | migrate rollback [--all]');
    process.exitCode = 2;
    return;
  }
  const db = await bootstrapDatabase({ ...databaseOptionsFromEnv(), migrate: false });
  try {
    if (command === 'latest') {
      const applied = await migrateLatest(db.url);
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date');
    } else {
      const all = flags.includes('--all') || process.env.npm_config_all === 'true';
      const undone = await migrateRollback(db.url, all);
      console.log(undone.length ? `Rolled back: ${undone.join(', ')}` : 'Nothing to roll back');
    }
    console.log(`Database: ${maskDatabaseUrl(db.url)}`);
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
