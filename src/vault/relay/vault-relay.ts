import type { DynamicModule } from '@nestjs/common';
import { IntegrationRelayModule } from 'nestjs-integration';
import { natsTransport, type NatsStreamDeclaration } from 'nestjs-integration/nats';
import { VAULT_EVENTS } from '../vault.events';

/**
 * Where the vault's events go on NATS JetStream: the contract between the vault app (which
 * relays them) and the services that take them in (the projection app). Both declare the same
 * streams at start, so either may start first.
 */
export interface VaultNatsOptions {
  /** NATS server URL(s) (`NATS_URL`). */
  readonly servers: string;
  /** Stream that stores the vault's events. @default 'VAULT_EVENTS' */
  readonly stream?: string;
  /** Subjects are `<subjectPrefix>.<event name>`, e.g. `vault-events.vault.opened`. @default 'vault-events' */
  readonly subjectPrefix?: string;
}

/** The relay consumer of the vault app: its deliveries, retries and dead letters. */
export const VAULT_NATS_RELAY_CONSUMER = 'vault-nats-relay';

/** The stream, subject mapping and dead-letter stream of {@link VaultNatsOptions}, resolved. */
export function vaultNatsTopology(options: VaultNatsOptions): {
  readonly stream: string;
  readonly subject: (eventName: string) => string;
  readonly deadLetterSubject: (subject: string) => string;
  readonly streams: readonly NatsStreamDeclaration[];
} {
  const stream = options.stream ?? 'VAULT_EVENTS';
  const prefix = options.subjectPrefix ?? 'vault-events';
  return {
    stream,
    subject: (name) => `${prefix}.${name}`,
    deadLetterSubject: (subject) => `${prefix}-dead-letter.${subject}`,
    streams: [
      { name: stream, subjects: [`${prefix}.>`] },
      { name: `${stream}_DEAD_LETTERS`, subjects: [`${prefix}-dead-letter.>`] },
    ],
  };
}

/**
 * The vault's events relayed to NATS JetStream: a consumer of the outbox
 * ({@link VAULT_NATS_RELAY_CONSUMER}) that publishes every vault event and settles it once the
 * stream acknowledged it. Imported by `AppModule` only when NATS is configured (`NATS_URL`).
 */
export function vaultNatsRelayModule(options: VaultNatsOptions): DynamicModule {
  const topology = vaultNatsTopology(options);
  return IntegrationRelayModule.forRoot({
    consumer: VAULT_NATS_RELAY_CONSUMER,
    events: [...VAULT_EVENTS],
    transport: natsTransport({
      servers: options.servers,
      connection: { name: 'vault' },
      subject: topology.subject,
      streams: topology.streams,
    }),
  });
}

/** The NATS options of the vault app from the environment: `NATS_URL`, else none (no relay). */
export function vaultNatsOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): VaultNatsOptions | undefined {
  return env.NATS_URL ? { servers: env.NATS_URL } : undefined;
}
