#!/usr/bin/env node
/**
 * CI helper for the second database run:
 *   create            prints the URL of a fresh database on 127.0.0.1:5432 (exit 1 if unreachable)
 *   version URL       prints the server version
 *   drop URL          drops that database
 * The server URL can be overridden with CI_POSTGRES_URL.
 */
'use strict';
const { Client } = require('pg');

const serverUrl = process.env.CI_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin(fn) {
  const client = new Client({ connectionString: serverUrl, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function main() {
  const [command, url] = process.argv.slice(2);
  if (command === 'create') {
    const name = `ni_ci_${Date.now().toString(36)}_${process.pid}`;
    await admin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
    process.stdout.write(withDatabase(serverUrl, name));
  } else if (command === 'version') {
    const client = new Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('show server_version');
    await client.end();
    process.stdout.write(`PostgreSQL ${rows[0].server_version}`);
  } else if (command === 'drop') {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
  } else {
    throw new Error('usage: ci-database.js create | version URL | drop URL');
  }
}

main().catch((error) => {
  console.error(`ci-database: ${error.message}`);
  process.exit(1);
});
