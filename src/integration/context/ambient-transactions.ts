import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { AmbientTransactionRequiredError } from '../errors/ambient-transaction-required.error';
import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import {
  loadTransactionHostLookup,
  NESTJS_CLS_TRANSACTIONAL_PACKAGE,
  type ClsServiceLike,
  type TransactionHostLike,
} from './cls-peers';
import { requireClsService } from './integration-context';

/** The private member of `TransactionHost` that makes a transaction the current one. */
type BindableHost = TransactionHostLike & { setTxInstance?: (tx: unknown) => void };

/**
 * The module's side of `@nestjs-cls/transactional` (option `context.transactional`): the
 * transaction `publish(event)` joins, and handlers run with `ctx.tx` as the current
 * transaction of the `TransactionHost`, so `@Transactional()` methods they call
 * (propagation `Required`, the default) write in the delivery's transaction. Without the
 * option, {@link current} refuses and {@link bind} just runs `fn`. A configuration it cannot
 * work with fails the bootstrap, not the first handler.
 */
@Injectable()
export class AmbientTransactions implements OnApplicationBootstrap {
  private readonly config: { readonly connectionName: string | undefined } | undefined;
  private readonly cls: ClsServiceLike | undefined;
  private readonly lookup: ((connectionName?: string) => TransactionHostLike) | undefined;

  constructor(@Inject(INTEGRATION_OPTIONS) options: Pick<ResolvedIntegrationOptions, 'context'>) {
    this.config = options.context.transactional;
    if (!this.config) return;
    this.cls = requireClsService();
    this.lookup = loadTransactionHostLookup();
    if (!this.lookup) {
      throw new InvalidIntegrationOptionsError([
        `context.transactional needs the optional peer ${NESTJS_CLS_TRANSACTIONAL_PACKAGE}: npm install ${NESTJS_CLS_TRANSACTIONAL_PACKAGE} and register ClsPluginTransactional in ClsModule.forRoot({ plugins: […] }); or remove context.transactional`,
      ]);
    }
  }

  /**
   * Checks, once the app's modules exist, that the `TransactionHost` of the configured
   * connection is registered and can be bound to a delivery's transaction.
   * @throws InvalidIntegrationOptionsError naming the fix when it is missing or unsupported.
   */
  onApplicationBootstrap(): void {
    if (this.config) this.bindableHost();
  }

  /** True when `context.transactional` is configured. */
  get enabled(): boolean {
    return this.config !== undefined;
  }

  /**
   * The transaction of the current `@Transactional()` call chain.
   * @throws AmbientTransactionRequiredError when not configured or no transaction is active.
   */
  current(operation: string): unknown {
    if (!this.config) throw new AmbientTransactionRequiredError(operation, 'not-configured');
    const host = this.host();
    if (!host.isTransactionActive())
      throw new AmbientTransactionRequiredError(operation, 'no-transaction');
    return host.tx;
  }

  /** Runs `fn` with `tx` as the current transaction (when configured and `tx` is defined). */
  bind<R>(tx: unknown, fn: () => R): R {
    if (!this.config || tx === undefined) return fn();
    const host = this.bindableHost();
    // A child CLS context: the transaction is current for `fn` only, never for the caller.
    return this.cls!.run({ ifNested: 'inherit' }, () => {
      host.setTxInstance(tx);
      return fn();
    });
  }

  private bindableHost(): TransactionHostLike & { setTxInstance: (tx: unknown) => void } {
    const host = this.host() as BindableHost;
    if (typeof host.setTxInstance !== 'function') {
      throw new InvalidIntegrationOptionsError([
        `context.transactional: ${NESTJS_CLS_TRANSACTIONAL_PACKAGE}'s TransactionHost has no setTxInstance, so handlers cannot run in its transaction: install ${NESTJS_CLS_TRANSACTIONAL_PACKAGE} 3.x (the version this module is tested with), or remove context.transactional`,
      ]);
    }
    return host as TransactionHostLike & { setTxInstance: (tx: unknown) => void };
  }

  private host(): TransactionHostLike {
    const { connectionName } = this.config!;
    try {
      return this.lookup!(connectionName);
    } catch (error) {
      throw new InvalidIntegrationOptionsError([
        `context.transactional: no TransactionHost${connectionName ? ` for connection "${connectionName}"` : ''}: register ClsPluginTransactional({ ${connectionName ? `connectionName: '${connectionName}', ` : ''}adapter: … }) in ClsModule.forRoot({ plugins: […] }) (${(error as Error).message})`,
      ]);
    }
  }
}
