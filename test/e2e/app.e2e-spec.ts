import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import { findFreePort } from '../../src/database/embedded-postgres';
import { spawnApp, waitForHttp } from '../support/app-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('app (in process)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let shutdownCalls = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ url: db.url, onShutdown: async () => void shutdownCalls++ })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await db.drop();
  });

  it('GET /health answers 200 with the database status', async () => {
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', database: { status: 'up' } });
    expect(typeof res.body.database.latencyMs).toBe('number');
  });

  it('close() resolves and runs the database shutdown callback once', async () => {
    await app.close();
    expect(shutdownCalls).toBe(1);
  });
});

describe('GET /health with the database down (hardening #20)', () => {
  it('answers 503 with the status only, not the database error text (hardening #20)', async () => {
    const db = await createTestDatabase();
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ url: db.url, processor: { enabled: false } })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      await request(app.getHttpServer()).get('/health').expect(200);
      await db.drop(); // the server now answers every query with 'database "…" does not exist'
      const res = await request(app.getHttpServer()).get('/health');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'error', database: { status: 'down' } });
      expect(res.text).not.toContain(db.name);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});

describe('app (as `npm start` runs it)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ni-app-'));
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('boots on embedded PostgreSQL, keeps data across restarts, exits on SIGINT leaving no server', async () => {
    const env = {
      DATABASE_URL: '',
      EMBEDDED_PG_DATA_DIR: path.join(dir, 'pg'),
      EMBEDDED_PG_PORT: String(await findFreePort()),
      PORT: String(await findFreePort()),
    };
    for (let run = 1; run <= 2; run++) {
      const app = spawnApp(env);
      try {
        const res = await waitForHttp(`http://127.0.0.1:${env.PORT}/health`, 60_000);
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ status: 'ok', database: { status: 'up' } });
      } catch (error) {
        app.child.kill('SIGKILL');
        throw new Error(`${String(error)}\n--- app output ---\n${app.output()}`, { cause: error });
      }
      const output = app.output();
      // The first run creates the cluster and migrates it; the second finds both done.
      if (run === 1) expect(output).toContain('Applied migrations');
      else expect(output).not.toContain('Applied migrations');
      const pidFile = path.join(env.EMBEDDED_PG_DATA_DIR, 'postmaster.pid');
      const postgresPid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      expect(isAlive(postgresPid)).toBe(true);

      app.child.kill('SIGINT');
      const started = Date.now();
      const exit = await app.exited;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(exit.code === 0 || exit.signal === 'SIGINT').toBe(true);
      expect(isAlive(postgresPid)).toBe(false);
    }
  });

  it('fails start-up on an unreachable DATABASE_URL with one clear message, password masked', async () => {
    const port = await findFreePort();
    const app = spawnApp({
      DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/app`,
      PORT: '0',
    });
    const exit = await app.exited;
    expect(exit.code).toBe(1);
    const output = app.output();
    expect(output).toContain(
      `Could not connect to PostgreSQL at postgres://app:***@127.0.0.1:${port}/app after 6 attempt(s)`,
    );
    expect(output).not.toContain('hunter2');
  });
});
