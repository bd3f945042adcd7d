#!/usr/bin/env node
// Stand-in for Prisma's schema engine: this project manages its schema with Knex migrations
// (`npm run migrate:latest`), so Prisma's migrate/db commands are not used here.
'use strict';
console.error(
  'This project does not use the Prisma schema engine. Use `npm run migrate:latest` (Knex) instead.',
);
process.exit(1);
