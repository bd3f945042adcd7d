import { defineConfig } from 'prisma/config';

// Prisma is only the typed client here: Knex migrations own the schema (db/migrations).
export default defineConfig({
  schema: 'prisma/schema.prisma',
});
