import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';
import { InvalidAdminModuleOptionsError } from '../../errors/invalid-admin-module-options.error';
import { unknownKeyProblems } from '../../utils/closest-match';

/**
 * The part of an HTTP request the admin module reads, whatever the platform (Express or
 * Fastify): enough for a guard or an `actor` function to find who is asking.
 */
export interface AdminHttpRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * Who is asking, set by the app's guard (e.g. a user name or a token's label); recorded as
   * the actor of every admin action. Read when no `actor` function is configured.
   */
  integrationAdminActor?: string;
}

/** A guard as Nest accepts it in `@UseGuards`: a `CanActivate` class (injected) or an instance. */
export type AdminGuard = Type<CanActivate> | CanActivate;

/** Options of `IntegrationAdminModule.register`. */
export interface IntegrationAdminModuleOptions {
  /**
   * Runs before every JSON endpoint (reads and writes): the app's own auth guard or a token
   * guard. Required: the module refuses to start without one. A class is instantiated by Nest
   * in the admin module (give its dependencies through `imports`).
   */
  readonly guard: AdminGuard;
  /**
   * Runs after `guard` before the write actions only (replay, discard, purge), e.g. to refuse
   * a read-only token with 403. @default none: `guard` alone decides
   */
  readonly writeGuard?: AdminGuard;
  /** Where the dashboard and its API are mounted: the page at `/<path>/`, JSON under `/<path>/api/`. @default 'admin' */
  readonly path?: string;
  /**
   * Who is asking, recorded in the audit table with every action. @default the request's
   * `integrationAdminActor` (set by the guard), else `'admin-http'`
   */
  readonly actor?: (request: AdminHttpRequest) => string | undefined;
  /**
   * Put the error's name and stack in 500 responses. Only for local debugging: stacks show
   * file paths. @default false (a generic message; the error is logged on the server)
   */
  readonly exposeErrorDetails?: boolean;
  /** Modules that provide the guards' dependencies. */
  readonly imports?: ModuleMetadata['imports'];
}

/** The options with defaults applied. */
export interface ResolvedAdminHttpOptions {
  readonly guard: AdminGuard;
  readonly writeGuard: AdminGuard | undefined;
  /** Without leading or trailing slash. */
  readonly path: string;
  readonly actor: (request: AdminHttpRequest) => string;
  readonly exposeErrorDetails: boolean;
}

/** The actor recorded when neither the guard nor an `actor` function names one. */
export const DEFAULT_ADMIN_ACTOR = 'admin-http';

const KNOWN_KEYS = [
  'guard',
  'writeGuard',
  'path',
  'actor',
  'exposeErrorDetails',
  'imports',
] as const satisfies ReadonlyArray<keyof IntegrationAdminModuleOptions>;

/** Path segments of letters, digits, `-`, `_` and `.`, separated by single slashes. */
const PATH_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

const isGuard = (value: unknown): value is AdminGuard =>
  typeof value === 'function' ||
  (typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<CanActivate>).canActivate === 'function');

/**
 * Validates the options and applies the defaults.
 * @throws InvalidAdminModuleOptionsError listing every problem, e.g. a missing guard.
 */
export function resolveAdminHttpOptions(options: unknown): ResolvedAdminHttpOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidAdminModuleOptionsError([
      `IntegrationAdminModule.register() needs an options object with a guard, e.g. { guard: AdminAuthGuard } (got ${String(options)})`,
    ]);
  }
  const o = options as Partial<Record<(typeof KNOWN_KEYS)[number], unknown>>;
  const problems = unknownKeyProblems(o, KNOWN_KEYS, '');
  if (o.guard === undefined || o.guard === null) {
    problems.push(
      'guard is required: pass the CanActivate class or instance that authorizes operators, ' +
        'e.g. IntegrationAdminModule.register({ guard: AdminAuthGuard }). The admin endpoints replay and ' +
        'delete deliveries, so the module never serves them unguarded',
    );
  } else if (!isGuard(o.guard)) {
    problems.push('guard must be a CanActivate class or an object with a canActivate() method');
  }
  if (o.writeGuard !== undefined && !isGuard(o.writeGuard)) {
    problems.push(
      'writeGuard must be a CanActivate class or an object with a canActivate() method, or left out',
    );
  }
  let path = 'admin';
  if (o.path !== undefined) {
    const trimmed = typeof o.path === 'string' ? o.path.replace(/^\/+|\/+$/g, '') : '';
    if (!PATH_PATTERN.test(trimmed)) {
      problems.push(
        `path must be URL path segments of letters, digits, '-', '_' or '.', e.g. 'admin' or 'ops/integration' (got ${JSON.stringify(o.path)})`,
      );
    } else path = trimmed;
  }
  if (o.actor !== undefined && typeof o.actor !== 'function') {
    problems.push('actor must be a function (request) => string, or left out');
  }
  if (o.exposeErrorDetails !== undefined && typeof o.exposeErrorDetails !== 'boolean') {
    problems.push('exposeErrorDetails must be true or false');
  }
  if (o.imports !== undefined && !Array.isArray(o.imports)) {
    problems.push('imports must be an array of modules, or left out');
  }
  if (problems.length) throw new InvalidAdminModuleOptionsError(problems);
  const actor = o.actor as IntegrationAdminModuleOptions['actor'];
  return {
    guard: o.guard as AdminGuard,
    writeGuard: o.writeGuard as AdminGuard | undefined,
    path,
    actor: (request) =>
      (actor ? actor(request) : request.integrationAdminActor) || DEFAULT_ADMIN_ACTOR,
    exposeErrorDetails: o.exposeErrorDetails === true,
  };
}
