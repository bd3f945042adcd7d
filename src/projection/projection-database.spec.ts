import path from 'node:path';
import { projectionDatabaseOptionsFromEnv } from './projection-database';

describe('projectionDatabaseOptionsFromEnv', () => {
  it('uses PROJECTION_DATABASE_URL as given', () => {
    expect(
      projectionDatabaseOptionsFromEnv({
        PROJECTION_DATABASE_URL: 'postgres://u@db:5432/proj',
        DATABASE_URL: 'postgres://u@db:5432/vault',
      }).databaseUrl,
    ).toBe('postgres://u@db:5432/proj');
  });

  it('else a second database, vault_projection, on the server of DATABASE_URL', () => {
    expect(
      projectionDatabaseOptionsFromEnv({
        DATABASE_URL: 'postgres://u:p@db:5433/vault?sslmode=disable',
      }).databaseUrl,
    ).toBe('postgres://u:p@db:5433/vault_projection?sslmode=disable');
  });

  it('else its own embedded server', () => {
    expect(projectionDatabaseOptionsFromEnv({})).toEqual({
      databaseUrl: undefined,
      dataDir: path.resolve('.data', 'projection-postgres'),
      port: 54339,
    });
    expect(
      projectionDatabaseOptionsFromEnv({
        PROJECTION_PG_DATA_DIR: '/tmp/p',
        PROJECTION_PG_PORT: '6000',
      }),
    ).toMatchObject({ dataDir: '/tmp/p', port: 6000 });
  });
});
