import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { ClsPluginTransactional } from '@nestjs-cls/transactional';
import { TransactionalAdapterPrisma } from '@nestjs-cls/transactional-adapter-prisma';
import { ClsModule } from 'nestjs-cls';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { adminModules } from './admin/admin-mount';
import type { AdminTokens } from './admin/admin-token.guard';
import { DATABASE_URL } from './database/database.constants';
import { DatabaseModule, type DatabaseModuleOptions } from './database/database.module';
import { PrismaService } from './database/prisma.service';
import { HealthController } from './health.controller';
import {
  integrationClsSetup,
  IntegrationModule,
  prismaAdapter,
  type ProcessorOptions,
  type TracerProviderLike,
} from 'nestjs-integration';
import { DatabaseHealthIndicator } from './observability/database-health.indicator';
import { MetricsController } from './observability/metrics.controller';
import { METRICS_REGISTRY } from './observability/observability.constants';
import { VaultFaultsModule } from './vault/faults/vault-faults.module';
import { VaultLedgerModule } from './vault/ledger/vault-ledger.module';
import { VaultNotificationsModule } from './vault/notifications/vault-notifications.module';
import { vaultNatsRelayModule, type VaultNatsOptions } from './vault/relay/vault-relay';
import { PayloadTooLargeFilter } from './vault/validation/payload-too-large.filter';
import { VaultModule } from './vault/vault.module';

/** Options of the sample application. */
export interface AppOptions extends DatabaseModuleOptions {
  /** Processor settings (e.g. from the environment); defaults otherwise. */
  readonly processor?: ProcessorOptions;
  /**
   * Test hook: probability (0 to 1) that a vault handler throws after its writes
   * (`VAULT_FAULT_RATE`, see `VaultFaultInjector`). @default 0
   */
  readonly faultRate?: number;
  /**
   * The prom-client registry `GET /metrics` serves; the integration module registers its
   * metrics in it. @default a new `Registry` per app, with Node's default metrics
   */
  readonly metricsRegistry?: Registry;
  /**
   * Where the integration module's tracer comes from (e.g. the SDK's `NodeTracerProvider`).
   * @default OpenTelemetry's global provider (a no-op unless an SDK registered one)
   */
  readonly tracerProvider?: TracerProviderLike;
  /**
   * The admin dashboard's tokens (`ADMIN_TOKEN`, `ADMIN_READ_TOKEN`, see `adminTokensFromEnv`).
   * @default none: the admin module is not mounted
   */
  readonly admin?: AdminTokens;
  /**
   * Relay the vault's events to NATS JetStream (`NATS_URL`, see `vaultNatsRelayModule`), for
   * other services (the projection app) to take in.
   * @default none: events stay in this app, and no broker is needed
   */
  readonly nats?: VaultNatsOptions;
}

/**
 * Processor settings from the environment: `PROCESSOR_ENABLED`, `PROCESSOR_BATCH_SIZE`,
 * `PROCESSOR_LEASE_MS`, `PROCESSOR_IDLE_POLL_MS`, `PROCESSOR_WORKER_ID`, and the retry policy
 * `PROCESSOR_RETRY_BASE_DELAY_MS`, `PROCESSOR_RETRY_MAX_DELAY_MS`, `PROCESSOR_RETRY_MAX_ATTEMPTS`.
 */
export function processorOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessorOptions {
  const int = (name: string): number | undefined => (env[name] ? Number(env[name]) : undefined);
  const retry = Object.fromEntries(
    Object.entries({
      baseDelayMs: int('PROCESSOR_RETRY_BASE_DELAY_MS'),
      maxDelayMs: int('PROCESSOR_RETRY_MAX_DELAY_MS'),
      maxAttempts: int('PROCESSOR_RETRY_MAX_ATTEMPTS'),
    }).filter(([, value]) => value !== undefined),
  );
  return {
    enabled: env.PROCESSOR_ENABLED ? env.PROCESSOR_ENABLED !== 'false' : undefined,
    batchSize: int('PROCESSOR_BATCH_SIZE'),
    leaseMs: int('PROCESSOR_LEASE_MS'),
    idlePollIntervalMs: int('PROCESSOR_IDLE_POLL_MS'),
    workerId: env.PROCESSOR_WORKER_ID || undefined,
    ...(Object.keys(retry).length > 0 ? { retry } : {}),
  };
}

/** The fault-injection test hook's rate from `VAULT_FAULT_RATE` (unset: 0, off). */
export function faultRateFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return env.VAULT_FAULT_RATE ? Number(env.VAULT_FAULT_RATE) : 0;
}

/**
 * The request context of the vault's HTTP API: tenant from `X-Tenant-Id` (else the vault's
 * owner, see VaultService), correlation id from `X-Correlation-Id`, generated when absent and
 * echoed on the response.
 */
export const VAULT_REQUEST_CONTEXT = { generateCorrelationId: true } as const;

/**
 * The sample application: the vault service on the integration module. Requests run in
 * nestjs-cls (the integration context of {@link VAULT_REQUEST_CONTEXT}); commands are
 * `@Transactional()` methods that publish with `publish(event)`.
 */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions): DynamicModule {
    // One registry per app (never prom-client's global one), so two apps in one process
    // (tests) each see their own metrics.
    const registry = options.metricsRegistry ?? defaultMetricsRegistry();
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot(options),
        ClsModule.forRoot({
          global: true,
          middleware: { mount: true, setup: integrationClsSetup(VAULT_REQUEST_CONTEXT) },
          plugins: [
            new ClsPluginTransactional({
              adapter: new TransactionalAdapterPrisma({ prismaInjectionToken: PrismaService }),
            }),
          ],
        }),
        IntegrationModule.forRootAsync({
          inject: [PrismaService, DATABASE_URL],
          useFactory: (prisma: PrismaService, url: string) => ({
            database: prismaAdapter(prisma, { listenUrl: url }),
            outbox: { defaultSourceModule: 'vault' },
            context: { transactional: true },
            processor: options.processor,
            metrics: { registry },
            ...(options.tracerProvider
              ? { tracing: { tracerProvider: options.tracerProvider } }
              : {}),
          }),
        }),
        VaultFaultsModule.forRoot({ rate: options.faultRate ?? 0 }),
        VaultModule,
        VaultNotificationsModule,
        VaultLedgerModule,
        TerminusModule.forRoot({ errorLogStyle: 'json' }),
        ...adminModules(options.admin),
        ...(options.nats ? [vaultNatsRelayModule(options.nats)] : []),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: METRICS_REGISTRY, useValue: registry },
        DatabaseHealthIndicator,
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
          }),
        },
        { provide: APP_FILTER, useClass: PayloadTooLargeFilter },
      ],
    };
  }
}

/** A new registry with Node's default process metrics (read at scrape time). */
function defaultMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
