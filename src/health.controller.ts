import { Controller, Get, HttpException, HttpStatus } from '@nestjs/common';
import { PrismaService } from './database/prisma.service';

/** Shape of `GET /health`. */
export interface HealthReport {
  readonly status: 'ok' | 'error';
  readonly database: {
    readonly status: 'up' | 'down';
    readonly latencyMs?: number;
    readonly error?: string;
  };
}

/** Liveness and database reachability. */
@Controller('health')
export class HealthController {
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
      const report: HealthReport = {
        status: 'error',
        database: { status: 'down', error: error instanceof Error ? error.message : String(error) },
      };
      throw new HttpException(report, HttpStatus.SERVICE_UNAVAILABLE);
    }
  }
}
