/**
 * The SQLite schema. Money is TEXT holding an exact decimal ("1234.5600"). A mart is stored as
 * the final merge's sorted columnar blocks (mart_blocks, src/db/mart-blocks.ts) with its best keys
 * per month, year and overall precomputed (mart_rank: units and revenue × 10^runs.scale as exact
 * integer TEXT). cell_runs is the coordinator's spill: each done chunk's keyed cells, merged into
 * marts/dimensions when the run finishes. Timestamps are ISO-8601 UTC text.
 */

/**
 * 2: marts.revenue_scaled INTEGER (overflowed past 2^63) became units_key/revenue_key TEXT.
 * 3: marts WITHOUT ROWID keyed (run_id, mart, key, month) with the marts_rank index; cell_runs.
 * 4: marts became mart_blocks (columnar blocks), mart_rank (precomputed rankings) and mart_info.
 * 5: join_tables, join_stats (`--join`).
 * 6: customers (per-customer features), segment_summaries, segments, customer_segments; cell_runs
 *    kind 'cust'.
 * 7: baskets: orders_summary, order_sizes, basket_items, basket_pairs; cell_runs kind 'basket'.
 * 8: cell_runs rows point into the run's spill file (off, len, crc) instead of holding the blocks.
 *    Later in 8, mart_blocks.data became packed (SGK2, aggregate/packed-cells.ts); SGK1 blocks of
 *    older databases still read.
 */
export const SCHEMA_VERSION = 8;

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
CREATE TABLE IF NOT EXISTS mart_info (
  run_id INTEGER NOT NULL,
  mart TEXT NOT NULL,
  keys INTEGER NOT NULL,
  cells INTEGER NOT NULL,
  blocks INTEGER NOT NULL,
  first_month TEXT NOT NULL,
  last_month TEXT NOT NULL,
  depth_month INTEGER NOT NULL,
  depth_year INTEGER NOT NULL,
  depth_all INTEGER NOT NULL,
  PRIMARY KEY (run_id, mart)
);
CREATE TABLE IF NOT EXISTS mart_blocks (
  run_id INTEGER NOT NULL,
  mart TEXT NOT NULL,
  seq INTEGER NOT NULL,
  first_key TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, mart, seq)
);
CREATE INDEX IF NOT EXISTS mart_blocks_key ON mart_blocks (run_id, mart, first_key);
CREATE TABLE IF NOT EXISTS mart_rank (
  run_id INTEGER NOT NULL,
  mart TEXT NOT NULL,
  per TEXT NOT NULL CHECK (per IN ('month', 'year', 'all')),
  by TEXT NOT NULL CHECK (by IN ('revenue', 'units', 'rows')),
  period TEXT NOT NULL,
  rank INTEGER NOT NULL,
  key TEXT NOT NULL,
  rows INTEGER NOT NULL,
  units TEXT NOT NULL,
  revenue TEXT NOT NULL,
  PRIMARY KEY (run_id, mart, per, by, period, rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cell_runs (
  run_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('mart', 'dim', 'cust', 'basket')),
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  -- The block's bytes in the run's spill file (db/spill-file.ts) and their CRC-32.
  off INTEGER NOT NULL,
  len INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  PRIMARY KEY (run_id, kind, name, chunk_id, seq)
);
-- One row per customer of a run with a customer column (db/customers.ts). first_date/last_date are
-- NULL without dates; orders is NULL with neither an order nor a date column. category_revenue is
-- a JSON object of exact decimal text per top category (and "(other)"), NULL without a category.
CREATE TABLE IF NOT EXISTS customers (
  run_id INTEGER NOT NULL,
  customer TEXT NOT NULL,
  rows INTEGER NOT NULL,
  orders INTEGER,
  units TEXT NOT NULL,
  revenue TEXT NOT NULL,
  first_date TEXT,
  last_date TEXT,
  months_active INTEGER NOT NULL,
  days_active INTEGER NOT NULL,
  category_revenue TEXT,
  PRIMARY KEY (run_id, customer)
) WITHOUT ROWID;
-- \`salesgrid segment\`: the whole summary (JSON, for eda's charts), one row per cluster, and each
-- customer's cluster (NULL when clustering was refused), RFM segment and lifetime-value decile.
CREATE TABLE IF NOT EXISTS segment_summaries (
  run_id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  seed INTEGER NOT NULL,
  k INTEGER,
  summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
  run_id INTEGER NOT NULL,
  cluster INTEGER NOT NULL,
  customers INTEGER NOT NULL,
  revenue TEXT NOT NULL,
  label TEXT NOT NULL,
  profile TEXT NOT NULL,
  PRIMARY KEY (run_id, cluster)
);
CREATE TABLE IF NOT EXISTS customer_segments (
  run_id INTEGER NOT NULL,
  customer TEXT NOT NULL,
  cluster INTEGER,
  rfm_segment TEXT NOT NULL,
  clv_decile INTEGER NOT NULL,
  PRIMARY KEY (run_id, customer)
) WITHOUT ROWID;
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
-- --join: each run's dimension tables, written with the run's row (data: the encoded table the
-- workers received, src/protocol/join-codec.ts), and the join report written when the run is done.
CREATE TABLE IF NOT EXISTS join_tables (
  run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  file TEXT NOT NULL,
  fact_column TEXT NOT NULL,
  key_column TEXT NOT NULL,
  columns TEXT NOT NULL,
  label TEXT,
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS join_stats (
  run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  fact_column TEXT NOT NULL,
  fact_rows INTEGER NOT NULL,
  matched_rows INTEGER NOT NULL,
  unmatched_rows INTEGER NOT NULL,
  unmatched_keys INTEGER NOT NULL,
  sample_keys TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
);
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
