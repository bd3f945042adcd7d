import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The dashboard's files, shipped in the package next to this module (no build step, no CDN). */
export interface DashboardAssets {
  /** The page, with `{{BASE}}` where the mount path goes. */
  readonly html: string;
  readonly script: string;
  readonly style: string;
}

/** Where the dashboard's files are: `dashboard/` beside the compiled module. */
export const DASHBOARD_DIR = join(__dirname, 'dashboard');

/** Reads the dashboard's three files (once per module instance; they never change at run time). */
export function readDashboardAssets(dir: string = DASHBOARD_DIR): DashboardAssets {
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  return {
    html: read('index.html'),
    script: read('dashboard.js'),
    style: read('dashboard.css'),
  };
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * The page for a request to `requestPath` (`/admin` or `/admin/`, with any global prefix):
 * its `<base href>` is that path with one trailing slash, so the script, the style sheet and
 * the API are found relative to wherever the module is mounted.
 */
export function renderDashboardPage(html: string, requestPath: string): string {
  const path = requestPath.split(/[?#]/, 1)[0]!.replace(/\/+$/, '');
  const base = `${path}/`.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
  return html.replace('{{BASE}}', base);
}
