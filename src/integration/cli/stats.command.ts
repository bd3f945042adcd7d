import type { AdminOverview } from '../admin/admin.types';
import { IntegrationTables } from '../database/integration-tables';
import { EventSequencer } from '../processing/event-sequencer.repository';
import { cliAdmin } from './cli-admin';
import type { CliCommand, CliContext } from './cli-command';
import { expectArguments } from './cli-command';
import { clientExecutor } from './cli-connection';
import { allowOnly, parseCount } from './cli-options';
import { formatTable, jsonDocument, shortAge } from './cli-output';

/** Minutes of throughput `stats` sums when `--minutes` is not given. */
export const DEFAULT_STATS_MINUTES = 15;

/** What `stats --json` prints. */
export interface CliStats extends AdminOverview {
  /** Committed events not fanned out to their consumers yet. */
  readonly unsequenced: number;
  /** The minutes of throughput included. */
  readonly minutes: number;
}

/**
 * `stats [--minutes N] [--tenant ID]`: backlog per consumer (pending, processing, dead letters,
 * oldest due, oldest lease), deliveries settled over the last minutes, and the unsequenced
 * events; with `--tenant`, that tenant's backlog and unsequenced events (no throughput: it is
 * kept per consumer only).
 */
export function statsCommand(args: readonly string[], context: CliContext): CliCommand {
  const { values, schema, json } = context;
  allowOnly('stats', values, ['minutes', 'tenant']);
  expectArguments('stats', args, 0, 'no argument');
  const minutes =
    values.minutes === undefined ? DEFAULT_STATS_MINUTES : parseCount('minutes', values.minutes);
  return {
    database: true,
    run: async (client) => {
      const tenant = values.tenant;
      const overview = await cliAdmin(client, schema).getOverview({
        minutes,
        ...(tenant === undefined ? {} : { tenantId: tenant }),
      });
      const unsequenced = await new EventSequencer(new IntegrationTables(schema)).pendingCount(
        clientExecutor(client),
        tenant,
      );
      const stats: CliStats = { unsequenced, minutes, ...overview };
      return json ? jsonDocument(stats) : formatStats(stats);
    },
  };
}

function formatStats(stats: CliStats): string {
  const head =
    `Unsequenced events: ${stats.unsequenced}` +
    (stats.unsequenced > 0 ? ' (committed, not yet fanned out to their consumers)' : '') +
    '\n';
  const names = [
    ...new Set([
      ...stats.backlog.map((b) => b.consumer),
      ...stats.throughput.map((t) => t.consumer),
    ]),
  ];
  if (names.length === 0) return `${head}No consumers yet.\n`;
  const window = `/${stats.minutes}m`;
  const rows = names.map((name) => {
    const b = stats.backlog.find((x) => x.consumer === name);
    const points = stats.throughput.filter((t) => t.consumer === name);
    const sum = (key: 'processed' | 'retried' | 'deadLettered'): number =>
      points.reduce((total, p) => total + p[key], 0);
    const latency = points.filter((p) => p.meanLatencyMs !== null && p.processed > 0);
    const weighted = latency.reduce((t, p) => t + p.meanLatencyMs! * p.processed, 0);
    const processedWithLatency = latency.reduce((t, p) => t + p.processed, 0);
    return [
      name,
      b ? String(b.pending) : '',
      b ? String(b.processing) : '',
      b ? String(b.deadLetter) : '',
      b ? shortAge(b.oldestDueMs) : '',
      b ? shortAge(b.oldestLeaseMs) : '',
      String(sum('processed')),
      String(sum('retried')),
      String(sum('deadLettered')),
      processedWithLatency > 0 ? `${Math.round(weighted / processedWithLatency)}ms` : '',
    ];
  });
  return (
    head +
    '\n' +
    formatTable(
      [
        [
          'CONSUMER',
          'PENDING',
          'PROCESSING',
          'DEAD LETTERS',
          'OLDEST DUE',
          'OLDEST LEASE',
          `PROCESSED${window}`,
          `RETRIED${window}`,
          `DEAD-LETTERED${window}`,
          'MEAN LATENCY',
        ],
        ...rows,
      ],
      'lrrrrrrrrr',
    )
  );
}
