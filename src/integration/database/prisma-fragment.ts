import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Where the Prisma schema fragment ships (beside the compiled code). */
export const PRISMA_FRAGMENT_PATH = path.join(__dirname, 'prisma', 'nestjs-integration.prisma');

/**
 * The Prisma models of the module's tables (`OutboxEvent`, `InboxEvent`, `IntegrationLink`),
 * for apps that want typed read access: save it beside `schema.prisma`
 * (`npx nestjs-integration prisma > prisma/nestjs-integration.prisma`).
 */
export function integrationPrismaModels(): string {
  return readFileSync(PRISMA_FRAGMENT_PATH, 'utf8');
}
