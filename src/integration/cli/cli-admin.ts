import type { Client } from 'pg';
import { AdminOperations } from '../admin/admin-operations';
import type { IntegrationAdminApi } from '../admin/admin.types';
import { IntegrationTables } from '../database/integration-tables';
import { DEFAULT_NOTIFY_CHANNEL } from '../integration.constants';
import { clientExecutor } from './cli-connection';

/**
 * The admin API on the CLI's connection: the same operations the admin HTTP module and the
 * dashboard call. A replay notifies the default channel, so processors listening there pick it
 * up at once (others at their next poll).
 */
export function cliAdmin(client: Client, schema: string): IntegrationAdminApi {
  return new AdminOperations(clientExecutor(client), {
    tables: new IntegrationTables(schema),
    notifyChannel: DEFAULT_NOTIFY_CHANNEL,
  });
}
