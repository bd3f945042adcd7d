import { SchedulerRegistry } from '@nestjs/schedule';
import { loadSchedulerRegistryClass, SCHEDULE_PACKAGE } from './scheduler-registry.loader';

const notFound = (id: string): Error =>
  Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- x.js`), {
    code: 'MODULE_NOT_FOUND',
  });

describe('loadSchedulerRegistryClass (package #schedule)', () => {
  it('returns the SchedulerRegistry class when @nestjs/schedule is installed (package #schedule)', () => {
    expect(loadSchedulerRegistryClass()).toBe(SchedulerRegistry);
  });

  it('returns undefined when @nestjs/schedule is not installed (package #schedule)', () => {
    const load = jest.fn(() => {
      throw notFound(SCHEDULE_PACKAGE);
    });
    expect(loadSchedulerRegistryClass(load)).toBeUndefined();
    expect(load).toHaveBeenCalledWith('@nestjs/schedule');
  });

  it('throws when a dependency of @nestjs/schedule is missing: a broken install is not absence (package #schedule)', () => {
    expect(() =>
      loadSchedulerRegistryClass(() => {
        throw notFound('cron');
      }),
    ).toThrow("Cannot find module 'cron'");
  });

  it('throws other load failures as they are (package #schedule)', () => {
    const failure = new SyntaxError('Unexpected token');
    expect(() =>
      loadSchedulerRegistryClass(() => {
        throw failure;
      }),
    ).toThrow(failure);
  });

  it('returns undefined when the package has no SchedulerRegistry export (package #schedule)', () => {
    expect(loadSchedulerRegistryClass(() => ({}))).toBeUndefined();
    expect(loadSchedulerRegistryClass(() => undefined)).toBeUndefined();
  });
});
