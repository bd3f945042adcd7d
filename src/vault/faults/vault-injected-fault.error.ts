/** A failure injected on purpose by the `VAULT_FAULT_RATE` test hook. */
export class VaultInjectedFaultError extends Error {
  override readonly name = 'VaultInjectedFaultError';

  constructor(
    readonly subject: {
      readonly eventId: string;
      readonly consumer: string;
      readonly attempt: number;
    },
  ) {
    super(
      `Injected fault (VAULT_FAULT_RATE): ${subject.consumer} fails attempt ${subject.attempt} of event ${subject.eventId}`,
    );
  }
}
