/** Environment variables that the global setup hands to every test worker. */
export const TEST_ENV = {
  adminUrl: 'NI_TEST_ADMIN_URL',
  templateDb: 'NI_TEST_TEMPLATE_DB',
  runId: 'NI_TEST_RUN_ID',
} as const;

/** Prefix of every database a test run creates (so teardown can find leftovers). */
export function testDatabasePrefix(runId: string): string {
  return `ni_t_${runId}_`;
}
