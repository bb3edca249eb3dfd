/** The shapes the JSON API returns (and the live feed pushes). Money is exact decimal text. */

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface RunListItem {
  id: number;
  status: string;
  file: string;
  size: number;
  rows: number;
  rejected: number;
  revenue: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  workers: number;
  chunksDone: number;
  chunksTotal: number | null;
}

export interface RunDetail extends RunListItem {
  error: string | null;
  units: string;
  minPrice: string | null;
  maxPrice: string | null;
  avgPrice: string | null;
  priceBasis: 'unit price' | 'line amount';
  bytesDone: number;
  /** Bytes of the data section (the file minus its header), what `bytesDone` counts towards. */
  bytesTotal: number;
  chunkSize: number;
  /** Money decimals of the run: a mart cell's revenue in the smallest unit is revenue × 10^scale. */
  scale: number;
  /** The coordinator's last heartbeat (every 2 s while it runs), ISO time, or null. */
  heartbeatAt: string | null;
  /** True for a run still marked running whose coordinator has stopped beating. */
  stale: boolean;
  hasDates: boolean;
  dimensions: string[];
  marts: string[];
}

export interface Period {
  period: string;
  rows: number;
  units: string;
  revenue: string;
}

export interface WorkerRow {
  workerId: string;
  address: string | null;
  connectedAt: string;
  disconnectedAt: string | null;
  sessions: number;
  chunks: number;
  rows: number;
  revenue: string;
  busyMs: number;
  /** The worker's latest lease or result in this run. */
  lastSeenAt: string | null;
  leased: number;
}

export interface AttemptRow {
  chunk: number;
  attempt: number;
  workerId: string;
  dispatchedAt: string;
  finishedAt: string | null;
  outcome: string;
  detail: string | null;
}

export interface RejectRow {
  id: number;
  chunk: number;
  /** File line, placed when the run ends; null while it runs (then `chunkLine` is the line in the chunk). */
  line: number | null;
  chunkLine: number;
  reason: string;
  raw: string;
  count: number;
}

export interface TopKey {
  key: string;
  rows: number;
  /** Exact integer as a decimal string (may exceed 2^53). */
  units: string;
  revenue: string;
}
