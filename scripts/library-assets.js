'use strict';
/**
 * Which files of src/integration ship next to the compiled code because the library reads them
 * at run time: SQL migrations, the Prisma fragment, and the admin dashboard's page, script and
 * style sheet (plain files served as they are: no build step for the user). One rule for
 * `npm run build` (scripts/copy-assets.js) and `npm run pack:module`.
 */
const path = require('node:path');

const DASHBOARD_DIR = path.join('admin', 'http', 'dashboard');

/** True when `relative` (a path inside src/integration) is a run-time asset. */
function isLibraryAsset(relative) {
  const extension = path.extname(relative);
  if (extension === '.sql' || extension === '.prisma') return true;
  return path.dirname(relative) === DASHBOARD_DIR && ['.html', '.css', '.js'].includes(extension);
}

module.exports = { isLibraryAsset };
