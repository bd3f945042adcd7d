// docs/examples/admin.module.ts — compiled by `npm run build`; shown in docs/operations.md.
import {
  ForbiddenException,
  Injectable,
  Module,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { IntegrationAdminModule, type AdminHttpRequest } from 'nestjs-integration';

type OpsRequest = AdminHttpRequest & { opsCanWrite?: boolean };

/** Every admin endpoint: a bearer token from the environment (read-only or read-write). */
@Injectable()
export class OpsTokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<OpsRequest>();
    const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
    if (token && token === process.env.OPS_TOKEN) request.opsCanWrite = true;
    else if (!token || token !== process.env.OPS_READ_TOKEN) throw new UnauthorizedException();
    request.integrationAdminActor = request.opsCanWrite ? 'ops' : 'ops-read-only';
    return true;
  }
}

/** Replay, discard and purge: only the read-write token. */
@Injectable()
export class OpsWriteGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (!context.switchToHttp().getRequest<OpsRequest>().opsCanWrite) {
      throw new ForbiddenException('read-only token');
    }
    return true;
  }
}

@Module({
  imports: [
    // Next to IntegrationModule.forRoot(...): the page at /ops/integration/, JSON under
    // /ops/integration/api/.
    IntegrationAdminModule.register({
      path: 'ops/integration',
      guard: OpsTokenGuard,
      writeGuard: OpsWriteGuard,
    }),
  ],
})
export class OpsModule {}
