import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  bootstrapProjectionDatabase,
  projectionDatabaseOptionsFromEnv,
} from './projection-database';
import { ProjectionAppModule } from './projection-app.module';

/**
 * `npm run start:projection`: the second service of the two-service demo. Its own database
 * (see `projectionDatabaseOptionsFromEnv`), the vault's events from NATS (`NATS_URL`, default
 * `nats://127.0.0.1:4222`), HTTP on `PROJECTION_PORT` (default 3001).
 */
async function main(): Promise<void> {
  const logger = new Logger('Projection');
  const db = await bootstrapProjectionDatabase(projectionDatabaseOptionsFromEnv());
  try {
    const app = await NestFactory.create(
      ProjectionAppModule.forRoot({
        url: db.url,
        nats: { servers: process.env.NATS_URL || 'nats://127.0.0.1:4222' },
        onShutdown: () => db.close(),
      }),
    );
    app.enableShutdownHooks();
    const port = Number(process.env.PROJECTION_PORT ?? 3001);
    const host = process.env.HOST ?? '127.0.0.1';
    await app.listen(port, host);
    logger.log(`Listening on http://${host}:${port}`);
  } catch (error) {
    await db.close();
    throw error;
  }
}

main().catch((error: unknown) => {
  new Logger('Projection').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
