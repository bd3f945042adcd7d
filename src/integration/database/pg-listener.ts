import { Client, type ClientConfig } from 'pg';
import { withApplicationName } from './application-name';
import { computeBackoffDelay, JitterMode, resolveRetryPolicy } from '../utils/retry';
import type {
  IntegrationDatabaseAdapter,
  ListenConnectionConfig,
  ListenHandle,
  ListenOptions,
} from './sql-executor';

const RECONNECT_POLICY = resolveRetryPolicy({
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  maxAttempts: Number.MAX_SAFE_INTEGER,
  jitter: JitterMode.Equal,
});

/**
 * A dedicated pg connection that LISTENs on `channel` and calls `onNotify` for each
 * notification. If the connection drops it reconnects with backoff (and calls `onNotify` once
 * connected again, since notifications may have been missed meanwhile). Polling covers any gap.
 */
class PgListener implements ListenHandle {
  private client?: Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;
  private failures = 0;
  private connecting: Promise<void>;
  readonly ready: Promise<void>;

  constructor(
    private readonly config: ListenConnectionConfig,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly options: ListenOptions,
  ) {
    this.connecting = this.connect();
    this.ready = this.connecting;
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { applicationName } = this.options;
    const config = this.config as ClientConfig;
    const client = new Client({
      ...(applicationName === undefined ? config : withApplicationName(config, applicationName)),
      keepAlive: true,
    });
    client.on('notification', (msg) => {
      if (msg.channel === this.channel) this.onNotify();
    });
    client.on('error', (error) => this.handleDrop(client, error));
    client.on('end', () => this.handleDrop(client, new Error('connection ended')));
    try {
      await client.connect();
      // The channel is validated as a lowercase identifier; quoting keeps it one identifier.
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      this.scheduleReconnect(error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    const reconnected = this.failures > 0;
    this.failures = 0;
    this.options.onUp?.(reconnected);
    if (reconnected) this.onNotify();
  }

  private handleDrop(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: unknown): void {
    if (this.closed) return;
    this.failures++;
    const delay = computeBackoffDelay(RECONNECT_POLICY, this.failures);
    this.options.onDown?.(error, delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connecting = this.connect();
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.connecting.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }

  async backendPid(): Promise<number | undefined> {
    if (!this.client) return undefined;
    const { rows } = await this.client.query<{ pid: number }>('select pg_backend_pid() as pid');
    return rows[0]?.pid;
  }
}

/**
 * The one implementation of {@link IntegrationDatabaseAdapter.listen}, shared by the adapters:
 * a dedicated `pg` connection from `options.connection`, else from `defaultConfig()` (the
 * adapter's `listenConfig()`); `undefined` when neither gives settings (polling only).
 */
export function pgListen(
  defaultConfig: () => ListenConnectionConfig | undefined,
): NonNullable<IntegrationDatabaseAdapter['listen']> {
  return (channel, onNotify, options = {}) => {
    const config = options.connection ?? defaultConfig();
    return config ? new PgListener(config, channel, onNotify, options) : undefined;
  };
}

/** `adapter` with `listen` on its own `listenConfig()`, through {@link pgListen}. */
export function withPgListen<TTx>(
  adapter: IntegrationDatabaseAdapter<TTx>,
): IntegrationDatabaseAdapter<TTx> {
  return { ...adapter, listen: pgListen(() => adapter.listenConfig()) };
}
