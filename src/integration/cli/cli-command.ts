import type { Client } from 'pg';
import type { CliValues } from './cli-options';
import { CliUsageError } from './cli-usage.error';

/** What a command reads besides its positional arguments. */
export interface CliContext {
  readonly values: CliValues;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The validated `--schema` (default `public`). */
  readonly schema: string;
  /** `--json`: print one JSON document instead of text. */
  readonly json: boolean;
}

/**
 * A command line checked before connecting: either its output, ready (no database needed), or
 * what runs it on one connection, resolving with the text to print.
 */
export type CliCommand =
  | { readonly database: false; readonly output: string }
  | { readonly database: true; run(client: Client): Promise<string> };

/** Refuses positional arguments beyond the `expected` ones. */
export function expectArguments(
  command: string,
  args: readonly string[],
  expected: number,
  what: string,
): void {
  if (args.length < expected) throw new CliUsageError(`${command} needs ${what}`);
  if (args.length > expected) throw new CliUsageError(`unexpected argument "${args[expected]}"`);
}
