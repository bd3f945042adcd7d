import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

/** The ```ts blocks of a Markdown file. */
function tsBlocks(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.trimEnd());
}

describe('docs', () => {
  it('getting-started.md shows the compiled example files verbatim', () => {
    const blocks = tsBlocks('docs/getting-started.md');
    for (const example of [
      'docs/examples/prisma-orders.module.ts',
      'docs/examples/knex-orders.module.ts',
    ]) {
      const source = readFileSync(path.join(root, example), 'utf8').trimEnd();
      expect(blocks).toContain(source);
    }
  });

  it('operations.md shows the compiled admin module example verbatim', () => {
    const source = readFileSync(path.join(root, 'docs/examples/admin.module.ts'), 'utf8');
    expect(tsBlocks('docs/operations.md')).toContain(source.trimEnd());
  });

  it('context.md shows the compiled context example verbatim', () => {
    const source = readFileSync(path.join(root, 'docs/examples/context.module.ts'), 'utf8');
    expect(tsBlocks('docs/context.md')).toContain(source.trimEnd());
  });

  it('every relative link in README.md and docs/ points at an existing file', () => {
    const files = [
      'README.md',
      ...[
        'getting-started.md',
        'event-processing.md',
        'configuration.md',
        'operations.md',
        'context.md',
        'tenancy.md',
        'README.md',
      ].map((f) => `docs/${f}`),
    ];
    const missing: string[] = [];
    for (const file of files) {
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)) {
        const resolved = path.resolve(path.dirname(path.join(root, file)), target!);
        if (!existsSync(resolved)) missing.push(`${file} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
