/**
 * The shapes of the database's rows as the store reads them, and of what one run or one chunk
 * result writes. Types only.
 */
export type RunStatus = 'running' | 'done' | 'failed' | 'interrupted';

export interface RunRow {
  id: number;
  file: string;
  size: number;
  mtime_ms: number;
  options: string;
  spec: string;
  data_start: number;
  header_lines: number;
  chunk_size: number;
  started_at: string;
  finished_at: string | null;
  status: RunStatus;
  error: string | null;
  scale: number;
  rows: number;
  rejected: number;
  units: string;
  revenue: string;
  price_min: string | null;
  price_max: string | null;
  price_sum: string;
  avg_price: string | null;
  chunks_done: number;
  chunks_total: number | null;
  bytes_done: number;
  lock_owner: string | null;
  lock_heartbeat_ms: number | null;
}

export interface ChunkRow {
  run_id: number;
  chunk_id: number;
  byte_start: number;
  byte_end: number;
  first_line: number | null;
  lines: number | null;
  status: 'pending' | 'done' | 'failed';
  attempts: number;
  worker_id: string | null;
  dispatched_at: string | null;
  finished_at: string | null;
  rows: number | null;
  rejected: number | null;
  revenue: string | null;
  parse_ms: number | null;
  partial: Buffer | null;
}

export interface WorkerRow {
  run_id: number;
  worker_id: string;
  address: string | null;
  connected_at: string;
  disconnected_at: string | null;
  sessions: number;
  chunks: number;
  rows: number;
  revenue: string;
  busy_ms: number;
  price_min: string | null;
  price_max: string | null;
  price_sum: string;
}

export interface AttemptRow {
  run_id: number;
  chunk_id: number;
  attempt: number;
  worker_id: string;
  dispatched_at: string;
  finished_at: string | null;
  outcome: string;
  detail: string | null;
}

export interface CellRow {
  rows: number;
  units: string;
  revenue: string;
}

/**
 * One mart cell for the store: [mart, month, key, rows, units, revenue, revenue × 10^scale]. The
 * integers are exact at any size (a number only while it is a safe integer); the store keeps them
 * as sort keys (sort-key.ts).
 */
export type MartRow = [string, string, string, number, number | bigint, string, number | bigint];

export interface NewRun {
  file: string;
  size: number;
  mtimeMs: number;
  options: unknown;
  spec: unknown;
  dataStart: number;
  headerLines: number;
  chunkSize: number;
  scale: number;
  startedAt: string;
  lockOwner: string;
  chunksTotal: number | null;
}

export interface ChunkResultWrite {
  runId: number;
  chunkId: number;
  attempt: number;
  workerId: string;
  finishedAt: string;
  lines: number;
  rows: number;
  rejected: number;
  units: string;
  revenue: string;
  priceMin: string | null;
  priceMax: string | null;
  priceSum: string;
  parseMs: number;
  /** Why the attempt's result is special (e.g. it came after its lease timed out). */
  detail: string | null;
  partial: Buffer;
  rejects: [number, string, string][];
  /** Rejects counted but not itemized: [reason, count, first relative line]. */
  omitted: [string, number, number][];
  worker: {
    chunks: number;
    rows: number;
    revenue: string;
    busyMs: number;
    priceMin: string | null;
    priceMax: string | null;
    priceSum: string;
  };
  run: {
    rows: number;
    rejected: number;
    units: string;
    revenue: string;
    priceMin: string | null;
    priceMax: string | null;
    priceSum: string;
    avgPrice: string | null;
    scale: number;
    chunksDone: number;
    bytesDone: number;
  };
}
