import { IntegrationError } from './integration.error';

/**
 * One consumer name is declared twice (two `@IntegrationConsumer` classes, or
 * `registerConsumer`) with different options, or a handler's own consumer options contradict
 * the consumer's declaration; bootstrap fails before anything runs.
 */
export class ConflictingConsumerError extends IntegrationError {
  override readonly name = 'ConflictingConsumerError';

  constructor(
    readonly consumer: string,
    /** Who declared the consumer first (class or registration name). */
    readonly firstDeclaredBy: string,
    /** Who declared it again. */
    readonly declaredBy: string,
    readonly reason: string,
  ) {
    super(
      `Consumer "${consumer}" is declared by ${firstDeclaredBy} and again by ${declaredBy}: ${reason}. ` +
        'A consumer has one set of options (transactional, retry, concurrency): give every ' +
        'declaration of it identical options, or declare it in one class only and give the ' +
        'other class another consumer name.',
    );
  }
}
