import { toKnexBindings } from './knex.adapter';

describe('toKnexBindings', () => {
  it('turns $n placeholders into ? with bindings in order of appearance', () => {
    expect(toKnexBindings('select $2::int, $1::text, $2::int', ['a', 7])).toEqual({
      sql: 'select ?::int, ?::text, ?::int',
      bindings: [7, 'a', 7],
    });
  });

  it('rejects a placeholder without a parameter', () => {
    expect(() => toKnexBindings('select $3', [1])).toThrow(
      'SQL refers to $3 but only 1 params were given',
    );
  });
});
