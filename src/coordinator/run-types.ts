/** What a coordinator run reports: progress while it runs, the summary at its end, the UI hooks. */
import type { Totals } from '../aggregate/partial.js';
import type { JoinStat } from '../db/joins.js';
import type { Usage } from '../protocol/messages.js';

export interface Progress {
  runId: number;
  elapsedMs: number;
  rows: number;
  rejected: number;
  bytesDone: number;
  bytesTotal: number;
  chunksDone: number;
  /** Exact once the chunker reached the end of the file, an estimate before. */
  chunksTotal: number;
  chunksExact: boolean;
  workers: number;
  retries: number;
}

export interface CoordinatorUi {
  info(message: string): void;
  warn(message: string): void;
  /** Called as soon as the port is bound, before the file's layout is read (workers may start). */
  bound?(host: string, port: number): void;
  /** Called when the run is ready for workers, with the address they should use. */
  listening?(host: string, port: number, runId: number): void;
  progress?(p: Progress): void;
}

export interface WorkerSummary {
  workerId: string;
  chunks: number;
  rows: number;
  revenue: string;
  busyMs: number;
  /** The worker process's last reported usage (peak RSS, CPU), if it sent one. */
  usage: Usage | null;
}

export interface MergeChildUsage extends Usage {
  mart: string;
}

export interface RunSummary {
  runId: number;
  status: 'done' | 'failed' | 'interrupted';
  file: string;
  db: string;
  wallMs: number;
  totals: Totals;
  chunks: number;
  retries: number;
  duplicates: number;
  workers: WorkerSummary[];
  error: string | null;
  resumed: boolean;
  /** What min/max/avg price are over: the unit price, or the line amount when there is no price column. */
  priceBasis: 'unit price' | 'line amount';
  /** This (coordinator) process's usage at the end of the run. */
  coordinatorUsage: Usage;
  /** The child processes that merged part of a large mart at the end (db/mart-close.ts). */
  mergeChildren?: MergeChildUsage[];
  /** Per `--join` table: fact rows, matched and unmatched rows, distinct unmatched keys, samples. */
  joins?: JoinStat[];
  /** Orders and baskets, when the run counted them (`--order` with `--item`). */
  baskets?: BasketSummary;
}

export interface BasketSummary {
  orders: number;
  lines: number;
  /** Exact decimal text. */
  avgOrderValue: string | null;
  items: number;
  /** Items left out of the pair counts (beyond `--basket-items`). */
  itemsLeftOut: number;
  pairs: number;
  /** Orders cut by chunk edges or not contiguous within a chunk, counted at the end. */
  shippedOrders: number;
  /** Orders seen in more than one chunk: when > 0 no items or pairs were written. */
  nonContiguous: number;
  noOrderLines: number;
  /** Set when the first pass found scattered orders and the baskets were counted in a second one. */
  secondPass?: SecondPass;
}

/** Why a run counted its baskets in a second pass with every order shipped: the first pass's finding. */
export interface SecondPass {
  /** Order ids the first pass found in more than one chunk. */
  orderIds: number;
  examples: string[];
}
