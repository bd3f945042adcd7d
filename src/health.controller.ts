import { Controller, Get, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { PrismaService } from './database/prisma.service';

/** Shape of `GET /health`. */
export interface HealthReport {
  readonly status: 'ok' | 'error';
  readonly database: {
    readonly status: 'up' | 'down';
    readonly latencyMs?: number;
  };
}

/**
 * Liveness and database reachability. A failure answers 503 with the status only: the
 * database's error text (host names, user names, server messages) goes to the log.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(private readonly prisma: PrismaService) {}

  @Get()
  async check(): Promise<HealthReport> {
    const started = performance.now();
    try {
      await this.prisma.$queryRaw`select 1`;
      return {
        status: 'ok',
        database: { status: 'up', latencyMs: Math.round((performance.now() - started) * 10) / 10 },
      };
    } catch (error) {
      this.logger.error(
        `Database check failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      const report: HealthReport = { status: 'error', database: { status: 'down' } };
      throw new HttpException(report, HttpStatus.SERVICE_UNAVAILABLE);
    }
  }
}
