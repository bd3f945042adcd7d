import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { adminTokensFromEnv } from '../../src/admin/admin-mount';
import { AppModule } from '../../src/app.module';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The vault app's admin mount: /admin behind ADMIN_TOKEN (read and write) and ADMIN_READ_TOKEN. */
describe('vault app: admin at /admin', () => {
  let db: TestDatabase;
  const apps: INestApplication[] = [];

  const start = async (admin?: { token: string; readToken?: string }) => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ url: db.url, processor: { enabled: false }, admin })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: ['error'] });
    await app.init();
    apps.push(app);
    return () => request(app.getHttpServer());
  };

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db.drop();
  });

  it('reads the tokens from the environment; none without ADMIN_TOKEN', () => {
    expect(adminTokensFromEnv({})).toBeUndefined();
    expect(adminTokensFromEnv({ ADMIN_READ_TOKEN: 'r' })).toBeUndefined();
    expect(adminTokensFromEnv({ ADMIN_TOKEN: 'w' })).toEqual({ token: 'w' });
    expect(adminTokensFromEnv({ ADMIN_TOKEN: 'w', ADMIN_READ_TOKEN: 'r' })).toEqual({
      token: 'w',
      readToken: 'r',
    });
  });

  it('without ADMIN_TOKEN the admin module is not mounted, and a line says so', async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    try {
      const http = await start(undefined);
      expect(log).toHaveBeenCalledWith(
        expect.stringContaining('Admin dashboard not mounted: set ADMIN_TOKEN'),
      );
      await http().get('/admin/').expect(404);
      await http().get('/admin/api/deliveries').expect(404);
    } finally {
      log.mockRestore();
    }
  });

  it('with the tokens: 401 without or with a wrong one, 403 on writes for the read-only one', async () => {
    const http = await start({ token: 'write-token', readToken: 'read-token' });
    await http().get('/admin/').expect(200);
    for (const auth of [undefined, 'Bearer nope', 'write-token', 'Basic write-token']) {
      const res = await http()
        .get('/admin/api/deliveries/count')
        .set(auth ? { Authorization: auth } : {});
      expect([auth, res.status]).toEqual([auth, 401]);
    }
    const writes = [
      '/admin/api/deliveries/replay',
      '/admin/api/deliveries/discard',
      '/admin/api/dead-letters/purge',
    ];
    for (const path of writes) {
      const read = await http().post(path).set({ Authorization: 'Bearer read-token' }).send({});
      expect([path, read.status, read.body.message]).toEqual([
        path,
        403,
        'This token may read only: write actions need ADMIN_TOKEN',
      ]);
      // Past both guards: the write token reaches the endpoint (an unknown key is a 400).
      const write = await http()
        .post(path)
        .set({ Authorization: 'Bearer write-token' })
        .send({ nope: 1 });
      expect([path, write.status]).toEqual([path, 400]);
    }
    const read = await http()
      .get('/admin/api/deliveries/count?consumr=x')
      .set({ Authorization: 'Bearer read-token' });
    expect(read.status).toBe(400); // past the guard
  });
});
