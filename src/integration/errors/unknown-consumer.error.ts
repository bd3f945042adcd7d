import { IntegrationError } from './integration.error';

/** A consumer-directory method named a consumer no instance has announced. */
export class UnknownConsumerError extends IntegrationError {
  override readonly name = 'UnknownConsumerError';

  constructor(
    readonly consumer: string,
    /** The known consumer most likely meant; undefined when none is known. */
    readonly closest: string | undefined,
  ) {
    super(
      `Consumer "${consumer}" is unknown: no instance has announced it in integration_consumer` +
        (closest === undefined
          ? ' (no consumer is known yet: an instance announces its consumers when its processor starts).'
          : `. Did you mean "${closest}"? \`npx nestjs-integration consumers list\` lists the known ones.`),
    );
  }
}
