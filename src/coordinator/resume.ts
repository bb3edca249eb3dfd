/**
 * Resume: checks that the stored run may be continued with these options, takes its lock, and
 * rebuilds its state from the database (done chunks, their merged partials, attempt numbers).
 */
import fs from 'node:fs';
import { Packr } from 'msgpackr';
import { type Agg, aggFromWire, emptyAgg, mergeInto, type WirePartial } from '../aggregate/partial.js';
import type { CoordinatorOptions } from '../config.js';
import { type ColumnOptions, DEFAULT_MAX_KEYS, type JoinOption } from '../config-columns.js';
import { chunksWithLostSpill, deleteChunkRuns } from '../db/cell-runs.js';
import type { RunRow, Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import { DEFAULT_MAX_FIELD_BYTES } from '../quote-limit.js';
import type { ScanSpec } from '../scan-spec.js';
import { type WorkerStats, withChunk } from './commit-plan.js';
import { iso, ownerIsDead } from './input.js';
import { type LoadedJoin, loadJoin } from './join-load.js';
import type { ChunkRange } from './lease-table.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const COLUMN_FLAGS: [keyof ColumnOptions, string][] = [
  ['price', '--price'],
  ['quantity', '--quantity'],
  ['revenue', '--revenue'],
  ['date', '--date'],
  ['dateFormat', '--date-format'],
  ['delimiter', '--delimiter'],
  ['dimensions', '--dimension'],
  ['marts', '--mart'],
  ['maxKeys', '--max-keys'],
  ['maxFieldBytes', '--max-field-bytes'],
  ['customer', '--customer'],
  ['order', '--order'],
  ['category', '--category'],
  ['item', '--item'],
  ['basket', '--basket'],
  ['basketItems', '--basket-items'],
  ['ordersScattered', '--orders-scattered'],
];

/** Flags given with --resume that differ from the stored run's, described; empty when none. Pure. */
export function resumeConflicts(
  stored: { chunkSize: number; columns: Partial<ColumnOptions>; joins?: JoinOption[] },
  opts: Pick<CoordinatorOptions, 'chunkSize' | 'chunkSizeGiven' | 'columns'> & { joins?: JoinOption[] },
): string[] {
  const out: string[] = [];
  // Given --join flags must name the run's tables, in order; none given means the run's own.
  const joinText = (list: JoinOption[]) =>
    list.length === 0
      ? 'none'
      : list
          .map(
            (j) =>
              `${j.file}:${j.factColumn === j.keyColumn ? j.factColumn : `${j.factColumn}=${j.keyColumn}`}`,
          )
          .join(', ');
  const given = opts.joins ?? [];
  const had = (stored.joins ?? []).map(({ file, factColumn, keyColumn, name }) => ({
    file,
    factColumn,
    keyColumn,
    name,
  }));
  if (given.length > 0 && joinText(given) !== joinText(had))
    out.push(`--join ${joinText(given)} (the run has ${joinText(had)})`);
  const show = (v: unknown) => (v === undefined ? 'not given (detected)' : JSON.stringify(v));
  for (const [key, flag] of COLUMN_FLAGS) {
    const now = opts.columns[key];
    const then = stored.columns[key];
    // --max-keys and --max-field-bytes always have a value (their default): only a non-default
    // one counts as given.
    const dflt =
      key === 'maxKeys' ? DEFAULT_MAX_KEYS : key === 'maxFieldBytes' ? DEFAULT_MAX_FIELD_BYTES : null;
    if (now === undefined || (dflt !== null && (then === undefined || now === dflt))) continue;
    if (JSON.stringify(now) !== JSON.stringify(then))
      out.push(`${flag} ${show(now)} (the run has ${show(then)})`);
  }
  if (opts.chunkSizeGiven && opts.chunkSize !== stored.chunkSize) {
    out.push(`--chunk-size ${opts.chunkSize} (the run has ${stored.chunkSize})`);
  }
  return out;
}

export interface ResumedRun {
  run: RunRow;
  spec: ScanSpec;
  careful: boolean;
  done: ChunkRange[];
  attempts: [number, number][];
  total: Agg;
  workerStats: Map<string, WorkerStats>;
  /** The run's `--join` tables, loaded again and checked against their fingerprints. */
  joins: LoadedJoin[];
  /** Chunk ids by start offset, so unfinished chunks keep their id (and attempt history). */
  idByStart: Map<number, number>;
  firstId: number;
  /** Done chunks whose spilled cells were lost (see chunksWithLostSpill), now pending again. */
  lostSpill: number[];
  /** The spill file, and whether it was missing (not merely short or damaged). */
  spill: { file: string; missing: boolean };
}

const refuse = (message: string, code: 'E_RESUME' | 'E_DB_LOCKED' = 'E_RESUME') =>
  new SalesgridError(code, message, { exitCode: 2 });

export function resumeRun(
  store: Store,
  opts: CoordinatorOptions,
  input: { size: number; mtimeMs: number },
  owner: string,
  lockStaleMs: number,
): ResumedRun {
  const prev = store.latestRunForFile(opts.file);
  if (prev === undefined) throw refuse(`nothing to resume: ${opts.db} has no run over ${opts.file}`);
  if (prev.status === 'done') {
    throw refuse(`run ${prev.id} over ${opts.file} already finished; start a new run without --resume`);
  }
  if (prev.size !== input.size || prev.mtime_ms !== input.mtimeMs) {
    throw refuse(
      `${opts.file} changed since run ${prev.id} (size ${prev.size} → ${input.size}, mtime ${iso(prev.mtime_ms)} → ${iso(input.mtimeMs)}); resume refused, start a new run without --resume`,
    );
  }
  const stored = JSON.parse(prev.options) as {
    careful?: boolean;
    columns?: Partial<ColumnOptions>;
    joins?: (JoinOption & { fingerprint: string })[];
    secondPass?: unknown;
  };
  // A run in its second pass for scattered orders ships every order, as --orders-scattered would.
  const columns = {
    ...stored.columns,
    ...(stored.secondPass !== undefined ? { ordersScattered: true } : {}),
  };
  const conflicts = resumeConflicts({ chunkSize: prev.chunk_size, columns, joins: stored.joins }, opts);
  if (conflicts.length > 0) {
    throw refuse(
      `--resume continues run ${prev.id} with its own settings; these flags conflict with it: ${conflicts.join('; ')}. Leave them out, or start a new run without --resume`,
    );
  }
  const joins = (stored.joins ?? []).map((j) => {
    const loaded = loadJoin(j, opts.maxJoinBytes);
    if (loaded.fingerprint !== j.fingerprint)
      throw refuse(
        `${j.file} (--join ${j.name}) changed since run ${prev.id} began; resume refused, start a new run without --resume`,
      );
    return loaded;
  });
  if (!store.takeLock(prev.id, owner, ownerIsDead(prev.lock_owner) ? 0 : lockStaleMs)) {
    throw refuse(`run ${prev.id} is held by another live coordinator (${prev.lock_owner})`, 'E_DB_LOCKED');
  }
  // Done chunks whose spilled cells did not survive a machine crash are counted again.
  const spillFile = store.spill(prev.id).path;
  const spillMissing = !fs.existsSync(spillFile);
  const lost = chunksWithLostSpill(store, prev.id);
  if (lost.length > 0) {
    // Its rejects go too: the chunk's new result records them again.
    const undo = store.statement("UPDATE chunks SET status = 'pending' WHERE run_id = ? AND chunk_id = ?");
    const rejects = store.statement('DELETE FROM rejects WHERE run_id = ? AND chunk_id = ?');
    store.transaction(() => {
      for (const id of lost) {
        undo.run(prev.id, id);
        rejects.run(prev.id, id);
        deleteChunkRuns(store, prev.id, id);
      }
    });
  }
  const spec = JSON.parse(prev.spec) as ScanSpec;
  const total = emptyAgg(spec.scale);
  const workerStats = new Map<string, WorkerStats>();
  const done: ChunkRange[] = [];
  const idByStart = new Map<number, number>();
  let maxId = -1;
  for (const c of store.allChunks(prev.id)) {
    maxId = Math.max(maxId, c.chunk_id);
    idByStart.set(c.byte_start, c.chunk_id);
    if (c.status !== 'done' || c.partial === null) continue;
    const wire = packr.unpack(c.partial) as WirePartial;
    const outcome = aggFromWire({ ...wire, rejects: [], rejected: 0 }, spec.maxKeys);
    outcome.agg.rejected = c.rejected ?? 0;
    mergeInto(total, outcome.agg);
    const worker = c.worker_id ?? '?';
    workerStats.set(worker, withChunk(workerStats.get(worker), outcome.agg, c.parse_ms ?? 0));
    done.push({ chunkId: c.chunk_id, byteStart: c.byte_start, byteEnd: c.byte_end });
  }
  const attempts = store.lastAttempts(prev.id);
  // Attempts of chunks given up by a careful restart have no chunk row; their ids stay unused.
  for (const [id] of attempts) maxId = Math.max(maxId, id);
  return {
    run: prev,
    spec,
    careful: stored.careful === true,
    done,
    attempts,
    total,
    workerStats,
    idByStart,
    firstId: maxId + 1,
    joins,
    lostSpill: lost,
    spill: { file: spillFile, missing: spillMissing },
  };
}
