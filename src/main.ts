import 'reflect-metadata';
// Before Nest and the app: the tracer provider must be registered before anything traces.
import { startTracing } from './tracing';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { adminTokensFromEnv } from './admin/admin-mount';
import { AppModule, faultRateFromEnv, processorOptionsFromEnv } from './app.module';
import { bootstrapDatabase, databaseOptionsFromEnv } from './database/database-bootstrap';
import { vaultNatsOptionsFromEnv } from './vault/relay/vault-relay';

/**
 * `npm start`: tracing (when the environment asks for it, see `startTracing`), database
 * (DATABASE_URL or embedded), migrations, then the HTTP API. SIGINT/SIGTERM close the app
 * (background work finished first), then flush the last spans, then stop the embedded server.
 */
async function main(): Promise<void> {
  const tracing = startTracing();
  const logger = new Logger('Bootstrap');
  const db = await bootstrapDatabase(databaseOptionsFromEnv()).catch(async (error: unknown) => {
    await tracing?.shutdown();
    throw error;
  });
  const closeAll = async (): Promise<void> => {
    try {
      await tracing?.shutdown();
    } finally {
      await db.close();
    }
  };
  try {
    const app = await NestFactory.create(
      AppModule.forRoot({
        url: db.url,
        onShutdown: closeAll,
        processor: processorOptionsFromEnv(),
        faultRate: faultRateFromEnv(),
        tracerProvider: tracing?.provider,
        admin: adminTokensFromEnv(),
        nats: vaultNatsOptionsFromEnv(),
      }),
      {
        bufferLogs: false,
      },
    );
    app.enableShutdownHooks();
    const port = Number(process.env.PORT ?? 3000);
    const host = process.env.HOST ?? '127.0.0.1';
    await app.listen(port, host);
    logger.log(`Listening on http://${host}:${port}`);
  } catch (error) {
    await closeAll();
    throw error;
  }
}

main().catch((error: unknown) => {
  new Logger('Bootstrap').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
