import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * Why PostgreSQL cannot store `value` as text (or as a JSON string), or `undefined` when it can:
 * a NUL character, or a lone UTF-16 surrogate (JSON can carry one, UTF-8 cannot).
 */
export function unsafeTextReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
  if (!value.isWellFormed()) return 'must not contain a lone UTF-16 surrogate (invalid Unicode)';
  return undefined;
}

/** class-validator rule: a string field PostgreSQL can store (see {@link unsafeTextReason}). */
export function IsSafeText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isSafeText',
      validator: {
        validate: (value: unknown) =>
          typeof value !== 'string' || unsafeTextReason(value) === undefined,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} ${
            typeof args?.value === 'string'
              ? (unsafeTextReason(args.value) ?? 'must be valid text')
              : 'must be valid text'
          }`,
      },
    },
    options,
  );
}

/** Validates a text route parameter with the same rule, plus a length bound; 400 otherwise. */
export class SafeTextParamPipe implements PipeTransform<string, string> {
  constructor(
    private readonly field: string,
    private readonly maxLength: number,
  ) {}

  transform(value: string): string {
    const reason =
      unsafeTextReason(value) ??
      (value.trim() === '' ? 'should not be empty' : undefined) ??
      (value.length > this.maxLength
        ? `must be shorter than or equal to ${this.maxLength} characters`
        : undefined);
    if (reason) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: [`${this.field} ${reason}`],
      });
    }
    return value;
  }
}
