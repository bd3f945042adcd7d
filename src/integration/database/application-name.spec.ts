import {
  integrationApplicationName,
  MAX_APPLICATION_NAME_BYTES,
  withApplicationName,
} from './application-name';

describe('integrationApplicationName', () => {
  it('names the module and the worker', () => {
    expect(integrationApplicationName('host:42:ab12')).toBe('nestjs-integration:host:42:ab12');
    expect(integrationApplicationName()).toBe('nestjs-integration');
  });

  it('keeps what PostgreSQL keeps: 63 bytes of printable ASCII', () => {
    const long = integrationApplicationName('w'.repeat(200));
    expect(Buffer.byteLength(long)).toBe(MAX_APPLICATION_NAME_BYTES);
    expect(long.startsWith('nestjs-integration:www')).toBe(true);
    const unicode = integrationApplicationName(`é${'x'.repeat(60)}`);
    expect(unicode).toMatch(/^nestjs-integration:\?x+$/u);
    expect(Buffer.byteLength(unicode)).toBe(MAX_APPLICATION_NAME_BYTES);
  });
});

describe('withApplicationName', () => {
  const none = {};

  it('sets the name on settings that do not have one', () => {
    expect(withApplicationName({ host: 'db' }, 'mine', none)).toEqual({
      host: 'db',
      application_name: 'mine',
    });
  });

  it("keeps the user's own name: settings, URL parameter or PGAPPNAME", () => {
    const named = { host: 'db', application_name: 'app' };
    expect(withApplicationName(named, 'mine', none)).toBe(named);
    const url = { connectionString: 'postgres://u@db/x?sslmode=disable&application_name=app' };
    expect(withApplicationName(url, 'mine', none)).toBe(url);
    const plain = { connectionString: 'postgres://u@db/x' };
    expect(withApplicationName(plain, 'mine', { PGAPPNAME: 'env' })).toBe(plain);
    expect(withApplicationName(plain, 'mine', none)).toEqual({
      ...plain,
      application_name: 'mine',
    });
  });
});
