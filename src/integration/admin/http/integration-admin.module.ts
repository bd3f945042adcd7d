import { Controller, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { AdminAccessGuard } from './admin-access.guard';
import { AdminApiController } from './admin-api.controller';
import { AdminDashboardController } from './admin-dashboard.controller';
import { AdminErrorsInterceptor } from './admin-errors.interceptor';
import { ADMIN_HTTP_OPTIONS, ADMIN_READ_GUARD, ADMIN_WRITE_GUARD } from './admin-http.constants';
import {
  resolveAdminHttpOptions,
  type AdminGuard,
  type IntegrationAdminModuleOptions,
} from './admin-http.options';

/**
 * Opt-in admin HTTP module: the dashboard page at `/<path>/` and JSON endpoints under
 * `/<path>/api/` over `IntegrationAdminService` (dead letters listed, inspected, replayed,
 * discarded, purged; audit trail; backlog and throughput). Import it next to
 * `IntegrationModule`:
 *
 * ```ts
 * IntegrationAdminModule.register({ guard: AdminAuthGuard, writeGuard: AdminWriteGuard })
 * ```
 *
 * It refuses to start without a guard (`InvalidAdminModuleOptionsError`). Needs an HTTP
 * platform (Express or Fastify), which the app brings; no other package.
 */
@Module({})
export class IntegrationAdminModule {
  /**
   * The module mounted at `options.path`, every endpoint behind `options.guard`.
   * @throws InvalidAdminModuleOptionsError when the guard is missing or an option is invalid.
   */
  static register(options: IntegrationAdminModuleOptions): DynamicModule {
    const resolved = resolveAdminHttpOptions(options);
    // A class of their own per registration: the path is metadata of the class, and the base
    // classes stay undecorated (no state shared between two apps in one process).
    class IntegrationAdminDashboardController extends AdminDashboardController {}
    class IntegrationAdminApiController extends AdminApiController {}
    Controller(resolved.path)(IntegrationAdminDashboardController);
    Controller(resolved.path)(IntegrationAdminApiController);
    return {
      module: IntegrationAdminModule,
      imports: [...(options.imports ?? [])],
      controllers: [IntegrationAdminDashboardController, IntegrationAdminApiController],
      providers: [
        { provide: ADMIN_HTTP_OPTIONS, useValue: resolved },
        guardProvider(ADMIN_READ_GUARD, resolved.guard),
        resolved.writeGuard
          ? guardProvider(ADMIN_WRITE_GUARD, resolved.writeGuard)
          : { provide: ADMIN_WRITE_GUARD, useValue: null },
        AdminAccessGuard,
        AdminErrorsInterceptor,
      ],
    };
  }
}

function guardProvider(token: symbol, guard: AdminGuard): Provider {
  return typeof guard === 'function'
    ? { provide: token, useClass: guard }
    : { provide: token, useValue: guard };
}
