import {
  Body,
  Get,
  Header,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import type {
  AdminActionResult,
  AdminAuditRecord,
  AdminDeliveryView,
  AdminEventDetail,
  AdminEventSummary,
  AdminOverview,
  IntegrationAdminApi,
  Page,
} from '../admin.types';
import { IntegrationAdminService } from '../integration-admin.service';
import { AdminAccessGuard, AdminWriteAction } from './admin-access.guard';
import { AdminErrorsInterceptor } from './admin-errors.interceptor';
import { ADMIN_HTTP_OPTIONS } from './admin-http.constants';
import type { AdminHttpRequest, ResolvedAdminHttpOptions } from './admin-http.options';
import {
  parseBulkAction,
  parseDeliveryListing,
  parseEventListing,
  parseAuditListing,
  parseOverview,
  parsePurge,
  parseReason,
  parseTenantQuery,
} from './admin-request.parser';

/**
 * The admin JSON API under `/<path>/api`, over `IntegrationAdminApi`: reads (GET) for the
 * app's guard, write actions (POST) for its guard and then its write guard. The actor of every
 * action comes from the request (see `IntegrationAdminModuleOptions.actor`). Mounted at the
 * configured path by `IntegrationAdminModule`.
 */
@UseGuards(AdminAccessGuard)
@UseInterceptors(AdminErrorsInterceptor)
export class AdminApiController {
  constructor(
    @Inject(IntegrationAdminService) private readonly admin: IntegrationAdminApi,
    @Inject(ADMIN_HTTP_OPTIONS) private readonly options: ResolvedAdminHttpOptions,
  ) {}

  /**
   * Backlog per consumer now, and throughput and latency per minute (`?minutes=`); one tenant's
   * backlog with `?tenantId=` (empty: rows without a tenant).
   */
  @Get('api/overview')
  @Header('Cache-Control', 'no-store')
  overview(@Query() query: Record<string, unknown>): Promise<AdminOverview> {
    return this.admin.getOverview(parseOverview(query));
  }

  /** Events, newest first, filtered by the query string; `?after=<nextCursor>` pages on. */
  @Get('api/events')
  @Header('Cache-Control', 'no-store')
  listEvents(@Query() query: Record<string, unknown>): Promise<Page<AdminEventSummary>> {
    const { filter, page } = parseEventListing(query);
    return this.admin.listEvents(filter, page);
  }

  @Get('api/events/count')
  @Header('Cache-Control', 'no-store')
  async countEvents(@Query() query: Record<string, unknown>): Promise<{ count: number }> {
    const { filter } = parseEventListing(query, false);
    return { count: await this.admin.countEvents(filter) };
  }

  /** One event with its payload, headers, every consumer's delivery and correlated events. */
  @Get('api/events/:eventId')
  @Header('Cache-Control', 'no-store')
  async event(
    @Param('eventId') eventId: string,
    @Query() query: Record<string, unknown>,
  ): Promise<AdminEventDetail> {
    const detail = await this.admin.getEvent(
      eventId,
      parseTenantQuery('GET events/:eventId', query),
    );
    if (!detail) throw new NotFoundException(`No event has the id ${eventId}`);
    return detail;
  }

  /** Deliveries (dead letters unless `?status=`), newest first, filtered by the query string. */
  @Get('api/deliveries')
  @Header('Cache-Control', 'no-store')
  listDeliveries(@Query() query: Record<string, unknown>): Promise<Page<AdminDeliveryView>> {
    const { filter, page } = parseDeliveryListing(query);
    return this.admin.listDeliveries(filter, page);
  }

  @Get('api/deliveries/count')
  @Header('Cache-Control', 'no-store')
  async countDeliveries(@Query() query: Record<string, unknown>): Promise<{ count: number }> {
    const { filter } = parseDeliveryListing(query, false);
    return { count: await this.admin.countDeliveries(filter) };
  }

  /** The audit trail of admin actions, newest first. */
  @Get('api/audit')
  @Header('Cache-Control', 'no-store')
  audit(@Query() query: Record<string, unknown>): Promise<Page<AdminAuditRecord>> {
    const { page, options } = parseAuditListing(query);
    return this.admin.listAudit(page, options);
  }

  /** Every dead-lettered delivery of one event back to pending. Body: `{ reason? }`. */
  @Post('api/events/:eventId/replay')
  @HttpCode(200)
  @AdminWriteAction()
  replayEvent(
    @Param('eventId') eventId: string,
    @Body() body: unknown,
    @Query() query: Record<string, unknown>,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const method = 'POST events/:eventId/replay';
    const { reason } = parseReason(method, body);
    const tenant = parseTenantQuery(method, query);
    return this.admin.replayEvent(eventId, this.by(request, reason), tenant);
  }

  /** One consumer's dead letter back to pending. Body: `{ reason? }`. */
  @Post('api/events/:eventId/deliveries/:consumer/replay')
  @HttpCode(200)
  @AdminWriteAction()
  replayDelivery(
    @Param('eventId') eventId: string,
    @Param('consumer') consumer: string,
    @Body() body: unknown,
    @Query() query: Record<string, unknown>,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const method = 'POST events/:eventId/deliveries/:consumer/replay';
    const { reason } = parseReason(method, body);
    const tenant = parseTenantQuery(method, query);
    return this.admin.replayDelivery(eventId, consumer, this.by(request, reason), tenant);
  }

  /** One consumer's pending or dead-lettered delivery marked skipped. Body: `{ reason }`. */
  @Post('api/events/:eventId/deliveries/:consumer/discard')
  @HttpCode(200)
  @AdminWriteAction()
  discardDelivery(
    @Param('eventId') eventId: string,
    @Param('consumer') consumer: string,
    @Body() body: unknown,
    @Query() query: Record<string, unknown>,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const method = 'POST events/:eventId/deliveries/:consumer/discard';
    const { reason } = parseReason(method, body);
    const tenant = parseTenantQuery(method, query);
    return this.admin.discardDelivery(eventId, consumer, this.by(request, reason), tenant);
  }

  /** Dead letters matching a filter back to pending. Body: `{ filter, reason?, dryRun?, limit? }`. */
  @Post('api/deliveries/replay')
  @HttpCode(200)
  @AdminWriteAction()
  replayDeliveries(
    @Body() body: unknown,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const { filter, options } = parseBulkAction('POST deliveries/replay', body);
    return this.admin.replayDeliveries(filter, { ...options, actor: this.options.actor(request) });
  }

  /** Deliveries matching a filter marked skipped. Body: `{ filter, reason, dryRun?, limit? }`. */
  @Post('api/deliveries/discard')
  @HttpCode(200)
  @AdminWriteAction()
  discardDeliveries(
    @Body() body: unknown,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const { filter, options } = parseBulkAction('POST deliveries/discard', body);
    return this.admin.discardDeliveries(filter, { ...options, actor: this.options.actor(request) });
  }

  /** Deletes dead letters older than a date. Body: `{ olderThan, consumer?, tenantId?, reason, dryRun?, limit? }`. */
  @Post('api/dead-letters/purge')
  @HttpCode(200)
  @AdminWriteAction()
  purgeDeadLetters(
    @Body() body: unknown,
    @Req() request: AdminHttpRequest,
  ): Promise<AdminActionResult> {
    const { filter, options } = parsePurge(body);
    return this.admin.purgeDeadLetters(filter, { ...options, actor: this.options.actor(request) });
  }

  private by(request: AdminHttpRequest, reason: string | undefined) {
    return { actor: this.options.actor(request), ...(reason === undefined ? {} : { reason }) };
  }
}
