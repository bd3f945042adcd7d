import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import knexFactory, { type Knex } from 'knex';
import { DATABASE_SHUTDOWN, DATABASE_URL, KNEX } from './database.constants';
import { PrismaService } from './prisma.service';

/** Options of {@link DatabaseModule.forRoot}. */
export interface DatabaseModuleOptions {
  /** PostgreSQL URL of an already migrated database. */
  readonly url: string;
  /** Called after every client is closed, e.g. to stop the embedded server. */
  readonly onShutdown?: () => Promise<void>;
}

/**
 * Closes the clients in order when the app shuts down. It runs in `onApplicationShutdown`,
 * after every `beforeApplicationShutdown` hook (where background loops finish their work).
 */
@Injectable()
export class DatabaseLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(
    private readonly prisma: PrismaService,
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(DATABASE_SHUTDOWN) private readonly onShutdown: () => Promise<void>,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.prisma.$disconnect();
    await this.knex.destroy();
    await this.onShutdown();
    this.logger.log('Database connections closed');
  }
}

/** App wiring: the PostgreSQL URL, the Prisma client and a Knex instance, global. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseModuleOptions): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: DATABASE_URL, useValue: options.url },
        { provide: DATABASE_SHUTDOWN, useValue: options.onShutdown ?? (async () => undefined) },
        {
          provide: KNEX,
          useFactory: (url: string) =>
            knexFactory({
              client: 'pg',
              connection: { connectionString: url },
              pool: { min: 0, max: 10 },
            }),
          inject: [DATABASE_URL],
        },
        PrismaService,
        DatabaseLifecycle,
      ],
      exports: [DATABASE_URL, KNEX, PrismaService],
    };
  }
}
