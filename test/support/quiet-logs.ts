import { Logger, type LoggerService, type LogLevel } from '@nestjs/common';
import { TestingLogger } from '@nestjs/testing/services/testing-logger.service';
import { inspect } from 'node:util';

/**
 * Sends every Nest log line of a test file to the buffer that `quiet-environment.ts` prints when a
 * test fails. Apps that pass `logger: [levels]` still filter by level, `logger: false` silences,
 * and a logger a test installs itself (to assert on lines) is used as given.
 */
class BufferedLogger implements LoggerService {
  private levels: ReadonlySet<LogLevel> = new Set([
    'log',
    'error',
    'warn',
    'debug',
    'verbose',
    'fatal',
  ]);

  constructor(private readonly lines: string[]) {}

  log = this.writer('log');
  error = this.writer('error');
  warn = this.writer('warn');
  debug = this.writer('debug');
  verbose = this.writer('verbose');
  fatal = this.writer('fatal');

  setLogLevels(levels: LogLevel[]): void {
    this.levels = new Set(levels);
  }

  resetLogLevels(): void {
    this.levels = new Set(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  }

  private writer(level: LogLevel): (message: unknown, ...rest: unknown[]) => void {
    return (message, ...rest) => {
      if (!this.levels.has(level)) return;
      // Nest passes the context last; an error's stack, when given, comes before it.
      const context = rest.length > 0 ? rest[rest.length - 1] : undefined;
      const extra = rest.slice(0, -1).filter((v) => v !== undefined);
      const text = typeof message === 'string' ? message : inspect(message, { depth: 4 });
      this.lines.push(
        [
          `${level.toUpperCase().padStart(7)} ${typeof context === 'string' ? `[${context}] ` : ''}${text}`,
          ...extra.map((v) => (typeof v === 'string' ? v : inspect(v))),
        ].join('\n'),
      );
    };
  }
}

const buffer = (globalThis as Record<string, unknown>).__NI_TEST_LOGS__;
if (Array.isArray(buffer)) {
  const buffered = new BufferedLogger(buffer as string[]);
  // `Test.createTestingModule(...).compile()` installs Nest's TestingLogger, which prints errors
  // straight to stdout: put the buffer in its place instead.
  const override = Logger.overrideLogger.bind(Logger);
  Logger.overrideLogger = (logger) => {
    if (logger instanceof TestingLogger) {
      buffered.resetLogLevels();
      override(buffered);
    } else {
      override(logger);
    }
  };
  Logger.overrideLogger(buffered);
}
