/** Injection token of the resolved `IntegrationAdminModule` options. */
export const ADMIN_HTTP_OPTIONS = Symbol('nestjs-integration:admin-http-options');
/** Injection token of the app's guard of every admin endpoint. */
export const ADMIN_READ_GUARD = Symbol('nestjs-integration:admin-read-guard');
/** Injection token of the app's extra guard of the write actions (`null` when none). */
export const ADMIN_WRITE_GUARD = Symbol('nestjs-integration:admin-write-guard');
/** Metadata key marking a handler as a write action (replay, discard, purge). */
export const ADMIN_WRITE_ACTION = 'nestjs-integration:admin-write-action';
