import { Inject, Injectable, Logger } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import { DATABASE_URL } from './database.constants';

/**
 * The app's Prisma 7 client, on the `pg` driver adapter over a pool of its own. Disconnected by
 * DatabaseLifecycle (which ends the pool too).
 *
 * Every connection of the pool keeps an error listener for its whole life. pg emits `error` on a
 * connection that the server ends while no query runs on it (a restart sends "terminating
 * connection due to administrator command"); a connection checked out of the pool carries no
 * listener of the pool's, so without this one such an event could end the process.
 */
@Injectable()
export class PrismaService extends PrismaClient {
  constructor(@Inject(DATABASE_URL) url: string) {
    const logger = new Logger(PrismaService.name);
    const pool = new Pool({ connectionString: url, max: 10 });
    pool.on('connect', (client) =>
      client.on('error', (error) => logger.warn(`Database connection lost: ${error.message}`)),
    );
    super({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  }
}
