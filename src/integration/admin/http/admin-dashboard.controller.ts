import { Get, Header, Req } from '@nestjs/common';
import { readDashboardAssets, renderDashboardPage, type DashboardAssets } from './dashboard-assets';

/** Only the package's own files: no inline script or style, no other origin, no framing. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/**
 * Serves the dashboard: the page at `/<path>/`, its script and its style sheet. They hold no
 * data, so they are not guarded: the page asks for a token and every JSON endpoint it calls
 * goes through the guard. Mounted at the configured path by `IntegrationAdminModule`.
 */
export class AdminDashboardController {
  private assets: DashboardAssets | undefined;

  private get files(): DashboardAssets {
    return (this.assets ??= readDashboardAssets());
  }

  /** The page, whose `<base>` is the path it was requested at. */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  @Header('Cache-Control', 'no-cache')
  page(@Req() request: { readonly originalUrl?: string; readonly url?: string }): string {
    return renderDashboardPage(this.files.html, request.originalUrl ?? request.url ?? '/');
  }

  @Get('dashboard.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  script(): string {
    return this.files.script;
  }

  @Get('dashboard.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  style(): string {
    return this.files.style;
  }
}
