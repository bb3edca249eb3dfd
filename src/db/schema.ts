/**
 * The SQLite schema. Money is TEXT holding an exact decimal ("1234.5600"). marts also keep
 * revenue × 10^runs.scale and units as order-preserving TEXT keys (src/db/sort-key.ts), of any
 * size, so `top` sums (`sg_sum`) and ranks in SQL exactly, per month from an index on revenue_key.
 * marts is clustered by (key, month), the order the final merge writes it. marts.month is '' for a
 * file without dates. cell_runs is the coordinator's spill: each done chunk's keyed cells, merged
 * into marts/dimensions when the run finishes. Timestamps are ISO-8601 UTC text.
 */

/**
 * 2: marts.revenue_scaled INTEGER (overflowed past 2^63) became units_key/revenue_key TEXT.
 * 3: marts WITHOUT ROWID keyed (run_id, mart, key, month) with the marts_rank index; cell_runs.
 * 4: baskets: orders_summary, order_sizes, basket_items, basket_pairs; cell_runs kind 'basket'.
 */
export const SCHEMA_VERSION = 4;

/** `top --per month` reads the best keys of each month from this index (Store.open creates it). */
export const MARTS_RANK_INDEX =
  'CREATE INDEX IF NOT EXISTS marts_rank ON marts (run_id, mart, month, revenue_key DESC, key)';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  file TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms INTEGER NOT NULL,
  options TEXT NOT NULL,
  spec TEXT NOT NULL,
  data_start INTEGER NOT NULL,
  header_lines INTEGER NOT NULL,
  chunk_size INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
  error TEXT,
  scale INTEGER NOT NULL,
  rows INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  units TEXT NOT NULL DEFAULT '0',
  revenue TEXT NOT NULL DEFAULT '0',
  price_min TEXT,
  price_max TEXT,
  price_sum TEXT NOT NULL DEFAULT '0',
  avg_price TEXT,
  chunks_done INTEGER NOT NULL DEFAULT 0,
  chunks_total INTEGER,
  bytes_done INTEGER NOT NULL DEFAULT 0,
  lock_owner TEXT,
  lock_heartbeat_ms INTEGER
);
CREATE TABLE IF NOT EXISTS chunks (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  chunk_id INTEGER NOT NULL,
  byte_start INTEGER NOT NULL,
  byte_end INTEGER NOT NULL,
  first_line INTEGER,
  lines INTEGER,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT,
  dispatched_at TEXT,
  finished_at TEXT,
  rows INTEGER,
  rejected INTEGER,
  units TEXT,
  revenue TEXT,
  price_min TEXT,
  price_max TEXT,
  price_sum TEXT,
  parse_ms REAL,
  partial BLOB,
  PRIMARY KEY (run_id, chunk_id)
);
CREATE TABLE IF NOT EXISTS attempts (
  run_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  dispatched_at TEXT NOT NULL,
  finished_at TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('leased', 'done', 'lost', 'timeout', 'failed', 'late', 'interrupted')),
  detail TEXT,
  PRIMARY KEY (run_id, chunk_id, attempt)
);
CREATE TABLE IF NOT EXISTS workers (
  run_id INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  address TEXT,
  connected_at TEXT NOT NULL,
  disconnected_at TEXT,
  sessions INTEGER NOT NULL DEFAULT 1,
  chunks INTEGER NOT NULL DEFAULT 0,
  rows INTEGER NOT NULL DEFAULT 0,
  revenue TEXT NOT NULL DEFAULT '0',
  busy_ms REAL NOT NULL DEFAULT 0,
  price_min TEXT,
  price_max TEXT,
  price_sum TEXT NOT NULL DEFAULT '0',
  PRIMARY KEY (run_id, worker_id)
);
CREATE TABLE IF NOT EXISTS monthly (
  run_id INTEGER NOT NULL,
  month TEXT NOT NULL,
  rows INTEGER NOT NULL,
  units TEXT NOT NULL,
  revenue TEXT NOT NULL,
  PRIMARY KEY (run_id, month)
);
CREATE TABLE IF NOT EXISTS dimensions (
  run_id INTEGER NOT NULL,
  dimension TEXT NOT NULL,
  key TEXT NOT NULL,
  rows INTEGER NOT NULL,
  units TEXT NOT NULL,
  revenue TEXT NOT NULL,
  PRIMARY KEY (run_id, dimension, key)
);
CREATE TABLE IF NOT EXISTS marts (
  run_id INTEGER NOT NULL,
  mart TEXT NOT NULL,
  month TEXT NOT NULL,
  key TEXT NOT NULL,
  rows INTEGER NOT NULL,
  units TEXT NOT NULL,
  revenue TEXT NOT NULL,
  units_key TEXT NOT NULL,
  revenue_key TEXT NOT NULL,
  PRIMARY KEY (run_id, mart, key, month)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cell_runs (
  run_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('mart', 'dim', 'basket')),
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, kind, name, chunk_id, seq)
);
CREATE TABLE IF NOT EXISTS rejects (
  run_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  rel_line INTEGER NOT NULL,
  line INTEGER,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  -- More than 1 for a group of rejects a worker counted without itemizing (line = the group's first).
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS rejects_run ON rejects (run_id, line);
-- Orders and baskets (run --order/--item): exact integer counts; value is exact decimal TEXT.
CREATE TABLE IF NOT EXISTS orders_summary (
  run_id INTEGER PRIMARY KEY,
  order_column TEXT NOT NULL,
  item_column TEXT NOT NULL,
  orders INTEGER NOT NULL,
  lines INTEGER NOT NULL,
  value TEXT NOT NULL,
  avg_value TEXT,
  no_order_lines INTEGER NOT NULL,
  shipped_orders INTEGER NOT NULL,
  items INTEGER NOT NULL,
  items_kept INTEGER NOT NULL,
  pairs INTEGER NOT NULL,
  -- Orders counted in one chunk and seen in another: when > 0 no items or pairs were written.
  non_contiguous INTEGER NOT NULL,
  examples TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_sizes (
  run_id INTEGER NOT NULL,
  measure TEXT NOT NULL CHECK (measure IN ('lines', 'items')),
  size INTEGER NOT NULL,
  orders INTEGER NOT NULL,
  PRIMARY KEY (run_id, measure, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS basket_items (
  run_id INTEGER NOT NULL,
  item TEXT NOT NULL,
  orders INTEGER NOT NULL,
  lines INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS basket_pairs (
  run_id INTEGER NOT NULL,
  item_a TEXT NOT NULL,
  item_b TEXT NOT NULL,
  orders INTEGER NOT NULL,
  PRIMARY KEY (run_id, item_a, item_b)
) WITHOUT ROWID;
`;
