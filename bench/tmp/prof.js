const { Pool } = require('pg');
const { migrateLatest } = require('/work/main/dist/db/migrator');
(async () => {
  const url = 'postgres://postgres@127.0.0.1:5432/prof';
  await migrateLatest(url);
  const pool = new Pool({ connectionString: url });
  await pool.query(`insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
    select ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'order.placed','order', g::text, 'order:'||g, '{}' from generate_series(1,20000) g`);
  await pool.query(`insert into integration_delivery (event_id, consumer_name, position, ordering_key, status, locked_by, attempt_count)
    select id, 'c', row_number() over (order by seq), ordering_key, 'processing', 'w', 1 from outbox_event`);
  await pool.query('analyze');
  const ids = (
    await pool.query(`select event_id::text from integration_delivery order by position limit 500`)
  ).rows.map((r) => ({ event_id: r.event_id, consumer_name: 'c', attempt: 1 }));
  const sql = `EXPLAIN (ANALYZE, BUFFERS) WITH target AS (
      SELECT d.consumer_name, d.event_id FROM integration_delivery AS d
        JOIN jsonb_to_recordset($2::jsonb) AS x(event_id uuid, consumer_name text, attempt integer)
          ON d.consumer_name = x.consumer_name AND d.event_id = x.event_id
       WHERE d.status = 'processing' AND d.locked_by = $1::text AND d.attempt_count = x.attempt
       ORDER BY d.consumer_name, d.event_id FOR UPDATE OF d)
    UPDATE integration_delivery AS d SET status = 'processed', processed_at = now(), updated_at = now(), last_error = NULL, locked_by = NULL, locked_until = NULL
      FROM target WHERE d.consumer_name = target.consumer_name AND d.event_id = target.event_id RETURNING d.event_id::text AS event_id`;
  const c = await pool.connect();
  await c.query('begin');
  const r = await c.query(sql, ['w', JSON.stringify(ids)]);
  console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
  await c.query('rollback');
  c.release();
  await pool.end();
})();
