import {
  Inject,
  Injectable,
  SetMetadata,
  type CanActivate,
  type CustomDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import { ADMIN_READ_GUARD, ADMIN_WRITE_ACTION, ADMIN_WRITE_GUARD } from './admin-http.constants';

/** Marks an admin endpoint as a write action: the write guard runs after the read guard. */
export const AdminWriteAction = (): CustomDecorator<string> =>
  SetMetadata(ADMIN_WRITE_ACTION, true);

/**
 * Every admin JSON endpoint's guard: runs the app's guard, then, for a write action, the app's
 * write guard. A guard answering `false` ends the request with 403; one that throws (e.g.
 * `UnauthorizedException`) answers with its own status.
 */
@Injectable()
export class AdminAccessGuard implements CanActivate {
  constructor(
    @Inject(ADMIN_READ_GUARD) private readonly readGuard: CanActivate,
    @Inject(ADMIN_WRITE_GUARD) private readonly writeGuard: CanActivate | null,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!(await passes(this.readGuard, context))) return false;
    const write = this.reflector.get<boolean | undefined>(ADMIN_WRITE_ACTION, context.getHandler());
    return !write || this.writeGuard === null || passes(this.writeGuard, context);
  }
}

async function passes(guard: CanActivate, context: ExecutionContext): Promise<boolean> {
  const result = guard.canActivate(context);
  return (isObservable(result) ? await lastValueFrom(result) : await result) === true;
}
