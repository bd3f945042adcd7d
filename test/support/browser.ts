import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export { CHROMIUM_PATH, launchChromium, type Browser } from '../../bench/lib/chromium';

/** Where the browser suite saves its screenshots (git-ignored; CI keeps them as artifacts). */
export const ARTIFACTS_DIR = join(__dirname, '..', 'artifacts');

/** The path of a screenshot named `name` (the directory is created on first use). */
export function artifact(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, name);
}
