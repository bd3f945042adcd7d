import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import type { Circus } from '@jest/types';
import NodeEnvironment from 'jest-environment-node';

/** Name of the per-file log buffer that `quiet-logs.ts` fills. */
export const LOG_BUFFER_GLOBAL = '__NI_TEST_LOGS__';

/**
 * Node environment that keeps the Nest log lines of a test to itself and prints them only when
 * that test (or a hook) fails, so expected failures logged by passing tests do not make the run
 * look red. Lines logged outside a test (e.g. in `afterAll`) are printed with the next failure, or
 * dropped at the end of the file.
 */
export default class QuietEnvironment extends NodeEnvironment {
  private readonly lines: string[] = [];

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.global[LOG_BUFFER_GLOBAL] = this.lines;
  }

  handleTestEvent(event: Circus.Event): void {
    if (event.name === 'test_start') {
      this.lines.length = 0;
    } else if (event.name === 'test_done' && event.test.errors.length > 0) {
      this.flush(`test "${fullName(event.test)}" failed`);
    } else if (event.name === 'hook_failure') {
      this.flush(`${event.hook.type} hook failed`);
    }
  }

  private flush(why: string): void {
    if (this.lines.length === 0) return;
    process.stderr.write(
      `\n── Nest logs (${why}) ──\n${this.lines.join('\n')}\n── end of Nest logs ──\n`,
    );
    this.lines.length = 0;
  }
}

function fullName(test: Circus.TestEntry): string {
  const names: string[] = [];
  for (let block: Circus.TestEntry | Circus.DescribeBlock | undefined = test; block;) {
    if (block.name !== 'ROOT_DESCRIBE_BLOCK') names.unshift(block.name);
    block = block.parent;
  }
  return names.join(' › ');
}
