export { IntegrationError } from './integration.error';
export { InvalidEventError } from './invalid-event.error';
export { PayloadTooLargeError } from './payload-too-large.error';
export { TransactionRequiredError } from './transaction-required.error';
export { InvalidIntegrationOptionsError } from './invalid-options.error';
export { EventNotFoundError } from './event-not-found.error';
export { DrainTimeoutError } from './drain-timeout.error';
