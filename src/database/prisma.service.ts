import { Inject, Injectable } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';
import { DATABASE_URL } from './database.constants';

/** The app's Prisma 7 client, on the `pg` driver adapter. Disconnected by DatabaseLifecycle. */
@Injectable()
export class PrismaService extends PrismaClient {
  constructor(@Inject(DATABASE_URL) url: string) {
    super({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
  }
}
