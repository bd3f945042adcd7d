import { describeValue, errorMessage } from './describe';

describe('errorMessage', () => {
  it('makes anything thrown readable', () => {
    expect(errorMessage(new RangeError('too big'))).toBe('RangeError: too big');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage({ code: 42 })).toBe('Non-Error thrown: {"code":42}');
    expect(errorMessage(undefined)).toBe('Non-Error thrown: undefined');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorMessage(cyclic)).toBe('Non-Error thrown: [object Object]');
    expect(errorMessage(Symbol('gone'))).toBe('Non-Error thrown: Symbol(gone)');
    expect(errorMessage(() => 1)).toBe('Non-Error thrown: () => 1');
  });
});

describe('describeValue', () => {
  it('renders anything briefly and never throws', () => {
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(10n)).toBe('10');
    expect(describeValue(() => 1)).toBe('function');
    expect(describeValue(Symbol('s'))).toBe('symbol');
    expect(describeValue('x'.repeat(500))).toHaveLength(200);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('[object Object]');
  });
});
