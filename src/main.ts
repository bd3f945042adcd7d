import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, faultRateFromEnv, processorOptionsFromEnv } from './app.module';
import { bootstrapDatabase, databaseOptionsFromEnv } from './database/database-bootstrap';

/**
 * `npm start`: database (DATABASE_URL or embedded), migrations, then the HTTP API.
 * SIGINT/SIGTERM close the app (background work finished first), then the embedded server.
 */
async function main(): Promise<void> {
  const logger = new Logger('Bootstrap');
  const db = await bootstrapDatabase(databaseOptionsFromEnv());
  try {
    const app = await NestFactory.create(
      AppModule.forRoot({
        url: db.url,
        onShutdown: () => db.close(),
        processor: processorOptionsFromEnv(),
        faultRate: faultRateFromEnv(),
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
    await db.close();
    throw error;
  }
}

main().catch((error: unknown) => {
  new Logger('Bootstrap').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
