import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  IntegrationInboundModule,
  IntegrationModule,
  JitterMode,
  pgAdapter,
} from 'nestjs-integration';
import { natsTransport } from 'nestjs-integration/nats';
import { Pool } from 'pg';
import { vaultNatsTopology, type VaultNatsOptions } from '../vault/relay/vault-relay';
import { PROJECTION_POOL, VAULT_PROJECTION_CONSUMER } from './projection.constants';
import { ProjectionController } from './projection.controller';
import { VaultProjectionConsumer } from './vault-projection.consumer';
import { VaultProjectionRepository } from './vault-projection.repository';

/** Options of {@link ProjectionAppModule.forRoot}. */
export interface ProjectionAppOptions {
  /** PostgreSQL URL of the projection's own database, migrated (`migrateProjectionDatabase`). */
  readonly url: string;
  /** Where the vault's events are: the same stream and subjects the vault app relays to. */
  readonly nats: VaultNatsOptions;
  /** NATS durable consumer of this app (instances sharing it share the messages). @default 'vault-projection' */
  readonly durable?: string;
  /** Called after the pool is closed, e.g. to stop an embedded server. */
  readonly onShutdown?: () => Promise<void>;
}

const SHUTDOWN = Symbol('PROJECTION_SHUTDOWN');

/** Closes the pool after the inbound subscription stopped (its shutdown hooks ran first). */
@Injectable()
class ProjectionPoolLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(PROJECTION_POOL) private readonly pool: Pool,
    @Inject(SHUTDOWN) private readonly onShutdown: () => Promise<void>,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
    await this.onShutdown();
  }
}

/**
 * The projection app, a second service of the two-service demo: it takes the vault's events in
 * from NATS JetStream (`IntegrationInboundModule`, inbox keyed by event id, acknowledged after
 * the commit) into its own database, and serves the result at `GET /projection/owners/:ownerId`.
 * It publishes nothing: its processor is off.
 */
@Module({})
export class ProjectionAppModule {
  static forRoot(options: ProjectionAppOptions): DynamicModule {
    const pool = new Pool({ connectionString: options.url, max: 5 });
    const topology = vaultNatsTopology(options.nats);
    return {
      module: ProjectionAppModule,
      imports: [
        IntegrationModule.forRoot({
          database: pgAdapter(pool),
          processor: { enabled: false },
        }),
        IntegrationInboundModule.forRoot({
          consumers: [VAULT_PROJECTION_CONSUMER],
          transport: natsTransport({
            servers: options.nats.servers,
            connection: { name: 'vault-projection' },
            subject: topology.subject,
            streams: topology.streams,
            inbound: {
              stream: topology.stream,
              durable: options.durable ?? VAULT_PROJECTION_CONSUMER,
              deadLetterSubject: topology.deadLetterSubject,
            },
          }),
          retry: { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 10_000, jitter: JitterMode.Full },
        }),
      ],
      controllers: [ProjectionController],
      providers: [
        { provide: PROJECTION_POOL, useValue: pool },
        { provide: SHUTDOWN, useValue: options.onShutdown ?? (async () => undefined) },
        ProjectionPoolLifecycle,
        VaultProjectionRepository,
        VaultProjectionConsumer,
      ],
    };
  }
}
