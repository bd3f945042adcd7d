/** Injection token of the projection app's `pg` Pool. */
export const PROJECTION_POOL = Symbol('PROJECTION_POOL');

/** The consumer of the projection app: its inbox rows and the NATS durable consumer. */
export const VAULT_PROJECTION_CONSUMER = 'vault-projection';
