/**
 * For tests that insert deliveries by hand: moves the sequencer's horizon to now, as a run
 * that found no open window leaves it, so every event committed so far counts as passed by the
 * runs in commit order (what the sequencer would have done for the events it fanned out).
 */
export async function markAllSequenced(sql: {
  query: (text: string) => Promise<unknown>;
}): Promise<void> {
  await sql.query(
    'UPDATE integration_sequencer SET horizon = pg_current_snapshot(), window_snapshot = NULL, after_tx = NULL, after_seq = NULL WHERE id = 1',
  );
}
