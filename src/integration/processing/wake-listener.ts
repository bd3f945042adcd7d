import type { Logger } from '@nestjs/common';
import { integrationApplicationName } from '../database/application-name';
import { describeDatabaseError } from '../database/database-error';
import { pgListen } from '../database/pg-listener';
import type { ListenHandle } from '../database/sql-executor';
import type { ResolvedIntegrationOptions } from '../integration.options';

/** What the LISTEN connection reports besides notifications. */
export interface WakeListenerHooks {
  onUp?(reconnected: boolean): void;
  onDown?(error: unknown, retryInMs: number): void;
}

/**
 * Starts LISTEN on the notify channel through the database port (`adapter.listen`, or the
 * pg-based implementation for a custom adapter without it) and waits until it is up or has
 * failed once. Returns `undefined`, after one log line saying why, when wake-ups are off or no
 * connection is configured: the processor then polls only.
 */
export async function startWakeListener(
  options: ResolvedIntegrationOptions,
  wake: () => void,
  logger: Logger,
  hooks: WakeListenerHooks = {},
): Promise<ListenHandle | undefined> {
  const { notify } = options;
  if (!notify.enabled || !notify.connection) {
    logger.log(
      notify.enabled
        ? 'No LISTEN connection configured (e.g. prismaAdapter without listenUrl): polling only'
        : 'NOTIFY disabled: polling only',
    );
    return undefined;
  }
  const listen = options.database.listen ?? pgListen(() => undefined);
  const listener = listen(notify.channel, wake, {
    connection: notify.connection,
    applicationName: integrationApplicationName(options.processor.workerId),
    onUp: (reconnected) => {
      if (reconnected) logger.log(`LISTEN ${notify.channel} re-established`);
      hooks.onUp?.(reconnected);
    },
    onDown: (error, retryInMs) => {
      logger.warn(
        `LISTEN connection unavailable (${describeDatabaseError(error)}); polling continues, reconnecting in ${retryInMs} ms`,
      );
      hooks.onDown?.(error, retryInMs);
    },
  });
  await listener?.ready;
  return listener;
}
