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

describe('toKnexBindings with comments and quoted text', () => {
  it('leaves comments out, so a $n or a ? in them is no binding', () => {
    const sql = `select $1::int -- the first ($2 is not used here?)
      , /* $2? */ $2::text`;
    expect(toKnexBindings(sql, [1, 'b'])).toEqual({
      sql: `select ?::int \n      ,   ?::text`,
      bindings: [1, 'b'],
    });
  });

  it('copies quoted literals, identifiers and dollar-quoted text as they are', () => {
    const sql = `select 'it''s $1 -- not a comment', "col$2", $$ $1 $$, $tag$ $2 $tag$, $1`;
    expect(toKnexBindings(sql, ['x'])).toEqual({
      sql: `select 'it''s $1 -- not a comment', "col$2", $$ $1 $$, $tag$ $2 $tag$, ?`,
      bindings: ['x'],
    });
  });

  it('reads a comment or a literal that runs to the end', () => {
    expect(toKnexBindings('select $1 -- end', [1]).sql).toBe('select ? ');
    expect(toKnexBindings("select 'open", []).sql).toBe("select 'open");
    expect(toKnexBindings('select 1 /* open', []).sql).toBe('select 1  ');
  });
});
