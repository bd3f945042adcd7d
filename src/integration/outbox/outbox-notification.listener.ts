import { Logger } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';
import { computeBackoffDelay, JitterMode, resolveRetryPolicy } from '../utils/retry';
import { describeDatabaseError } from '../database/database-error';
import type { ListenConnectionConfig } from '../database/sql-executor';

const RECONNECT_POLICY = resolveRetryPolicy({
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  maxAttempts: Number.MAX_SAFE_INTEGER,
  jitter: JitterMode.Equal,
});

/**
 * A dedicated connection that LISTENs on the outbox channel and calls `onNotify` for each
 * notification. If the connection drops it reconnects with backoff (and calls `onNotify` once
 * connected again, since notifications may have been missed meanwhile). Polling covers any gap.
 */
export class OutboxNotificationListener {
  private client?: Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;
  private failures = 0;
  private connecting?: Promise<void>;

  constructor(
    private readonly config: ListenConnectionConfig,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly logger: Logger,
  ) {}

  /** True while a LISTEN connection is established. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Connects and LISTENs; on failure schedules reconnects and resolves anyway. */
  start(): Promise<void> {
    this.closed = false;
    this.connecting = this.connect();
    return this.connecting;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ ...(this.config as ClientConfig), keepAlive: true });
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
    if (this.failures > 0) {
      this.logger.log(`LISTEN ${this.channel} re-established`);
      this.onNotify();
    }
    this.failures = 0;
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
    this.logger.warn(
      `LISTEN connection unavailable (${describeDatabaseError(error)}); polling continues, reconnecting in ${delay} ms`,
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connecting = this.connect();
    }, delay);
  }

  /** Stops listening and reconnecting. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }

  /** Test hook: the pg backend pid of the LISTEN connection (to terminate it in tests). */
  async backendPid(): Promise<number | undefined> {
    if (!this.client) return undefined;
    const { rows } = await this.client.query<{ pid: number }>('select pg_backend_pid() as pid');
    return rows[0]?.pid;
  }
}
