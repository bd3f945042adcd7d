import { Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { PrismaService } from '../database/prisma.service';

/** One `select 1` through the app's Prisma client. */
export type DatabasePing =
  { readonly status: 'up'; readonly latencyMs: number } | { readonly status: 'down' };

/** The app's database check, for `GET /health` and as a Terminus indicator. */
@Injectable()
export class DatabaseHealthIndicator {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly prisma: PrismaService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** `select 1`; a failure is logged with its cause and reported `down` without it. */
  async ping(): Promise<DatabasePing> {
    const started = performance.now();
    try {
      await this.prisma.$queryRaw`select 1`;
      return { status: 'up', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      this.logger.error(
        `Database check failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      return { status: 'down' };
    }
  }

  /** The ping as a Terminus result under `key`. */
  async isHealthy<const Key extends string>(key: Key): Promise<HealthIndicatorResult<Key>> {
    const ping = await this.ping();
    const session = this.indicators.check(key);
    return ping.status === 'up' ? session.up({ latencyMs: ping.latencyMs }) : session.down();
  }
}
