import {
  ForbiddenException,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminHttpRequest } from 'nestjs-integration';

/** The vault app's admin tokens (`ADMIN_TOKEN`, `ADMIN_READ_TOKEN`). */
export interface AdminTokens {
  /** Reads and writes (replay, discard, purge). */
  readonly token: string;
  /** Reads only: write actions answer 403. */
  readonly readToken?: string;
}

/** What the presented token allows, kept on the request for {@link AdminWriteTokenGuard}. */
type AdminAccess = 'read' | 'write';
type TokenRequest = AdminHttpRequest & { adminAccess?: AdminAccess };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
/** Constant-time comparison (of digests, so the length leaks nothing either). */
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/**
 * Every admin endpoint: `Authorization: Bearer <ADMIN_TOKEN or ADMIN_READ_TOKEN>`, else 401.
 * Names the actor of the audit trail after the token used.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(private readonly tokens: AdminTokens) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<TokenRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
    if (!match) throw new UnauthorizedException('Send the admin token as Authorization: Bearer');
    const presented = match[1]!;
    if (same(presented, this.tokens.token)) {
      request.adminAccess = 'write';
      request.integrationAdminActor = 'admin-token';
    } else if (this.tokens.readToken !== undefined && same(presented, this.tokens.readToken)) {
      request.adminAccess = 'read';
      request.integrationAdminActor = 'admin-read-token';
    } else {
      throw new UnauthorizedException('Unknown admin token');
    }
    return true;
  }
}

/** Write actions: only `ADMIN_TOKEN` (after {@link AdminTokenGuard}); the read-only token gets 403. */
@Injectable()
export class AdminWriteTokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<TokenRequest>();
    if (request.adminAccess !== 'write') {
      throw new ForbiddenException('This token may read only: write actions need ADMIN_TOKEN');
    }
    return true;
  }
}
