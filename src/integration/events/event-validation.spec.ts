import { InvalidEventError } from '../errors/invalid-event.error';
import { MAX_HEADERS_BYTES, normalizeEvent } from './event-validation';
import type { PublishEventInput } from './integration-event';

const settings = { maxPayloadBytes: 256 * 1024, defaultSourceModule: null };
const event = (over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'vault.opened',
  aggregateType: 'Vault',
  aggregateId: 'v-1',
  payload: null,
  ...over,
});
const fieldOf = (input: PublishEventInput): string | undefined => {
  try {
    normalizeEvent(input, settings);
  } catch (error) {
    if (error instanceof InvalidEventError) return error.field;
    throw error;
  }
  return undefined;
};

describe('normalizeEvent', () => {
  it('limits headers by their size as stored: MAX_HEADERS_BYTES passes, one byte more does not (hardening #9)', () => {
    // {"a": "…"} is 9 bytes of jsonb text around the value.
    const headers = (bytes: number) => ({ a: 'x'.repeat(bytes - 9) });
    expect(
      normalizeEvent(event({ headers: headers(MAX_HEADERS_BYTES) }), settings).headersJson,
    ).toHaveLength(MAX_HEADERS_BYTES - 1);
    expect(fieldOf(event({ headers: headers(MAX_HEADERS_BYTES + 1) }))).toBe('headers');
  });

  it('builds headers on a null prototype: __proto__ is kept next to correlation and causation (hardening #9)', () => {
    const headers = JSON.parse('{"__proto__": "p"}') as Record<string, string>;
    const { headersJson } = normalizeEvent(
      event({ headers, correlationId: 'c', causationId: 'd' }),
      settings,
    );
    expect(headersJson).toBe('{"__proto__":"p","correlationId":"c","causationId":"d"}');
  });

  it('names the field of a text that is not a string', () => {
    expect(fieldOf(event({ name: 5 as unknown as string }))).toBe('name');
    expect(fieldOf(event({ aggregateId: {} as unknown as string }))).toBe('aggregateId');
  });
});
