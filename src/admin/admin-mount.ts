import { Logger, type DynamicModule } from '@nestjs/common';
import { IntegrationAdminModule } from 'nestjs-integration';
import { AdminTokenGuard, AdminWriteTokenGuard, type AdminTokens } from './admin-token.guard';

/** The admin tokens from `ADMIN_TOKEN` and `ADMIN_READ_TOKEN`; `undefined` without ADMIN_TOKEN. */
export function adminTokensFromEnv(env: NodeJS.ProcessEnv = process.env): AdminTokens | undefined {
  if (!env.ADMIN_TOKEN) return undefined;
  return {
    token: env.ADMIN_TOKEN,
    ...(env.ADMIN_READ_TOKEN ? { readToken: env.ADMIN_READ_TOKEN } : {}),
  };
}

/**
 * The admin module at `/admin` behind the token guards, or nothing (with a log line saying
 * how to turn it on) when no token is configured.
 */
export function adminModules(tokens: AdminTokens | undefined): DynamicModule[] {
  const logger = new Logger('Admin');
  if (!tokens) {
    logger.log(
      'Admin dashboard not mounted: set ADMIN_TOKEN (and optionally ADMIN_READ_TOKEN) to serve /admin',
    );
    return [];
  }
  logger.log(
    `Admin dashboard at /admin (ADMIN_TOKEN: read and write${tokens.readToken ? '; ADMIN_READ_TOKEN: read only' : ''})`,
  );
  return [
    IntegrationAdminModule.register({
      path: 'admin',
      guard: new AdminTokenGuard(tokens),
      writeGuard: new AdminWriteTokenGuard(),
    }),
  ];
}
