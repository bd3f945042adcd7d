import { Controller, Get, HttpException, HttpStatus } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { IntegrationHealthIndicator } from 'nestjs-integration';
import { DatabaseHealthIndicator } from './observability/database-health.indicator';

/** Shape of `GET /health`. */
export interface HealthReport {
  readonly status: 'ok' | 'error';
  readonly database: {
    readonly status: 'up' | 'down';
    readonly latencyMs?: number;
  };
}

/**
 * Health endpoints. A failure answers 503; the database's error text (host names, user names,
 * server messages) goes to the log, never into a response.
 *
 * - `GET /health`: database reachability, in the app's own shape (kept for existing clients).
 * - `GET /health/live` (Terminus): the process answers and the integration module is there; a
 *   stopped or stalled processor does not take it down (restarting would not help).
 * - `GET /health/ready` (Terminus): the database (the app's Prisma client) and the integration
 *   module's readiness: its database, processor running, progress, LISTEN.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: DatabaseHealthIndicator,
    private readonly integration: IntegrationHealthIndicator,
  ) {}

  @Get()
  async check(): Promise<HealthReport> {
    const database = await this.database.ping();
    if (database.status === 'down') {
      const report: HealthReport = { status: 'error', database };
      throw new HttpException(report, HttpStatus.SERVICE_UNAVAILABLE);
    }
    return { status: 'ok', database };
  }

  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.integration.isLive()]);
  }

  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.database.isHealthy('database'),
      () => this.integration.isReady(),
    ]);
  }
}
