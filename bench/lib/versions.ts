import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Version of an installed package, or of this project with `'.'`. */
export function packageVersion(name: string): string {
  const file =
    name === '.'
      ? path.resolve(__dirname, '..', '..', '..', 'package.json')
      : require.resolve(`${name}/package.json`, { paths: [process.cwd(), __dirname] });
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
