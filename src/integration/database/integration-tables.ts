import { DEFAULT_INTEGRATION_SCHEMA, quoteSchemaName } from './schema-name';

/**
 * The module's tables as its SQL names them: schema-qualified and quoted, from the validated
 * `schema` option. Built once per module instance at bootstrap; the repositories build their
 * statements from it in their constructors, so no statement is assembled per call and no
 * identifier ever comes from anything but this validated option.
 */
export class IntegrationTables {
  /** `"schema"."outbox_event"`. */
  readonly outbox: string;
  /** `"schema"."inbox_event"`. */
  readonly inbox: string;
  /** `"schema"."integration_link"`. */
  readonly link: string;
  /** `"schema"."integration_delivery"`: one row per (event, consumer). */
  readonly delivery: string;
  /** `"schema"."integration_consumer"`: the consumers known to the cluster. */
  readonly consumer: string;
  /** `"schema"."integration_consumer_host"`: which instances host which consumers. */
  readonly consumerHost: string;
  /** `"schema"."integration_sequencer"`: the sequencer's progress (one row). */
  readonly sequencer: string;
  /** `"schema"."integration_audit"`: one row per admin action. */
  readonly audit: string;
  /** `"schema"."integration_consumer_stats"`: deliveries settled per consumer and minute. */
  readonly consumerStats: string;

  /**
   * @param schema The schema holding the tables. @default 'public'
   * @throws InvalidSchemaNameError when `schema` is not a plain lowercase identifier.
   */
  constructor(readonly schema: string = DEFAULT_INTEGRATION_SCHEMA) {
    // The validated name admits no quote, so the quoting is complete; it also keeps names that
    // are keywords (e.g. `user`) usable.
    const quoted = quoteSchemaName(schema);
    const qualified = (table: string): string => `${quoted}."${table}"`;
    this.outbox = qualified('outbox_event');
    this.inbox = qualified('inbox_event');
    this.link = qualified('integration_link');
    this.delivery = qualified('integration_delivery');
    this.consumer = qualified('integration_consumer');
    this.consumerHost = qualified('integration_consumer_host');
    this.sequencer = qualified('integration_sequencer');
    this.audit = qualified('integration_audit');
    this.consumerStats = qualified('integration_consumer_stats');
  }
}
