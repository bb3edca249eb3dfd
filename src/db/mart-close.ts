/**
 * The marts' part of closing a run: each mart's spill merged into its stored blocks and rankings
 * (db/mart-blocks.ts). A mart whose spill passes the split threshold uses a second core through a
 * child process (coordinator/mart-split.ts): the child merges the keys from a pivot on while this
 * process merges the keys below it, or, when this process has other tables to write meanwhile
 * (the customers), the child takes every key. This process stays the only writer.
 */

import type { KeyedRunKind } from '../aggregate/keyed-cells.js';
import { combineParts, type MartPart, mergeToBlocks } from '../aggregate/mart-part.js';
import { KeyedMerge } from '../coordinator/keyed-merge.js';
import { canSplit, removeStaleOutputs, SplitHalf, splitThreshold } from '../coordinator/mart-split.js';
import type { Usage } from '../protocol/messages.js';
import { runSources, spilledBlockReader } from './cell-runs.js';
import { deleteMarts, insertMartBlocks, RANK_DEPTHS, writeMart, writeMartPart } from './mart-blocks.js';
import type { Store } from './store.js';

export interface MartWritten {
  name: string;
  keys: number;
  cells: number;
  /** How the merge ran: here, in two ranges, in the child alone, or here after the child failed. */
  how: 'here' | 'split' | 'child' | 'fallback';
  /** Why the child failed, with `fallback`. */
  childError?: string;
  /** The child process's resource use (peak RSS, CPU), with `split` and `child`. */
  childUsage?: Usage;
}

export interface MartClose {
  /** Merges what is left to this process, waits for the children, writes the rankings. */
  finish(): MartWritten[];
  /** Stops the children (the closing transaction failed). */
  abandon(): void;
}

/**
 * Starts closing the run's marts (their old rows deleted, children started); call inside the
 * transaction that closes the run, and `finish` in it too. `busy`: this process writes other
 * tables before `finish`, so a child takes a large mart whole. `consume`: see runSources; a mart
 * a child reads is left for the caller's deleteCellRuns.
 */
export function startMartClose(
  store: Store,
  runId: number,
  marts: string[],
  scale: number,
  opts: { consume: boolean; busy: boolean },
): MartClose {
  deleteMarts(store.prep, runId);
  const threshold = splitThreshold();
  if (threshold !== null && canSplit(store.path)) removeStaleOutputs(store.path, runId);
  const plans: { name: string; half: SplitHalf | null }[] = [];
  const abandon = () => {
    for (const p of plans) p.half?.abandon();
  };
  try {
    for (const name of marts) {
      const big =
        threshold !== null && canSplit(store.path) && martSpillBytes(store, runId, name) >= threshold;
      const pivot = !big ? null : opts.busy ? new Uint8Array(0) : splitPivot(store, runId, 'mart', name);
      plans.push({ name, half: pivot === null ? null : startChild(store.path, runId, name, scale, pivot) });
    }
  } catch (err) {
    // A mart's pivot could not be read: the children already started must not run on unwatched.
    abandon();
    throw err;
  }
  return {
    abandon,
    finish() {
      try {
        return plans.map(({ name, half }): MartWritten => {
          if (half === null) {
            const merge = new KeyedMerge(runSources(store, runId, 'mart', name, opts.consume), scale);
            return { name, ...writeMart(store.prep, runId, name, merge), how: 'here' };
          }
          let seq = 0;
          const insert = (blocks: Uint8Array[]) => {
            seq = insertMartBlocks(store.prep, runId, name, seq, blocks);
          };
          const merge = (range: { from?: Uint8Array; until?: Uint8Array }) =>
            mergeToBlocks(
              name,
              new KeyedMerge(runSources(store, runId, 'mart', name), scale, range),
              RANK_DEPTHS,
              insert,
            );
          const whole = half.pivot.length === 0;
          const low = whole ? null : merge({ until: half.pivot });
          const fromChild = half.finish(insert);
          const high = fromChild ?? merge({ from: half.pivot });
          const part: MartPart = low === null ? high : combineParts(low, high, RANK_DEPTHS);
          writeMartPart(store.prep, runId, name, part);
          return {
            name,
            keys: part.keys,
            cells: part.cells,
            how: fromChild === null ? 'fallback' : whole ? 'child' : 'split',
            ...(fromChild === null ? { childError: half.error } : {}),
            ...(half.usage !== null ? { childUsage: half.usage } : {}),
          };
        });
      } finally {
        abandon();
      }
    },
  };
}

/** The child for keys from `pivot` on; null when it cannot be started (this process merges all). */
function startChild(
  db: string,
  runId: number,
  name: string,
  scale: number,
  pivot: Uint8Array,
): SplitHalf | null {
  try {
    return SplitHalf.start(db, runId, name, scale, pivot, RANK_DEPTHS);
  } catch {
    return null;
  }
}

/** Bytes of one mart's spilled runs. */
function martSpillBytes(store: Store, runId: number, name: string): number {
  const r = store
    .statement(
      "SELECT COALESCE(SUM(len), 0) AS n FROM cell_runs WHERE run_id = ? AND kind = 'mart' AND name = ?",
    )
    .get(runId, name) as { n: number };
  return r.n;
}

/**
 * A key near the 45% quantile of a run's keys (this process, which merges below it, also writes
 * every block; the child also starts a process): the median over the done chunks of the first key
 * of each one's block at 45% of its run. Null when there is nothing to split.
 */
export function splitPivot(store: Store, runId: number, kind: KeyedRunKind, name: string): Uint8Array | null {
  const rows = store
    .statement(
      `SELECT r.chunk_id AS chunk_id, COUNT(*) AS blocks FROM cell_runs r
         JOIN chunks c ON c.run_id = r.run_id AND c.chunk_id = r.chunk_id AND c.status = 'done'
       WHERE r.run_id = ? AND r.kind = ? AND r.name = ? GROUP BY r.chunk_id`,
    )
    .all(runId, kind, name) as { chunk_id: number; blocks: number }[];
  const block = spilledBlockReader(store, runId);
  const keys: Buffer[] = [];
  for (const { chunk_id, blocks } of rows) {
    const b = block(kind, name, chunk_id, Math.floor(blocks * 0.45));
    if (b === undefined) continue;
    keys.push(Buffer.from(b.keys.subarray(0, b.keyOffset[1])));
  }
  if (keys.length === 0) return null;
  keys.sort(Buffer.compare);
  const pivot = keys[keys.length >> 1];
  // An empty pivot would leave the lower range empty (and means "every key" to the child).
  return pivot.length === 0 ? null : pivot;
}
