import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Registry } from 'prom-client';
import { METRICS_REGISTRY } from './observability.constants';

/** `GET /metrics`: Prometheus text exposition of the app's own registry. */
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get()
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.registry.metrics();
    // Written as is: Express's send() would reorder the Content-Type's parameters.
    res.status(200).setHeader('Content-Type', this.registry.contentType);
    res.end(body);
  }
}
