/**
 * Opening a run, new or resumed: the state the coordinator starts from (run id, scan spec, totals
 * so far, lease table, chunker). A new run reads the layout from a sample of the file, refuses when
 * another live coordinator holds a run over the same file, and records the options it keeps.
 */
import { type Agg, emptyAgg } from '../aggregate/partial.js';
import { type CoordinatorOptions, MAX_CHUNK_SIZE } from '../config.js';
import { saveJoinTables } from '../db/joins.js';
import type { Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';
import type { ReadAt } from '../source/byte-source.js';
import { Chunker, type ChunkerOptions } from './chunker.js';
import type { WorkerStats } from './commit-plan.js';
import { iso, ownerIsDead, readSample } from './input.js';
import { applyJoins, type LoadedJoin, loadJoin, plainColumns } from './join-load.js';
import { detectLayout, type Layout } from './layout.js';
import * as lt from './lease-table.js';
import { resumeRun } from './resume.js';
import type { CoordinatorUi } from './run-types.js';

export interface OpenRun {
  runId: number;
  resumed: boolean;
  spec: ScanSpec;
  dataStart: number;
  total: Agg;
  workerStats: Map<string, WorkerStats>;
  table: lt.LeaseTable;
  chunker: Chunker;
  bytesDone: number;
  chunksSeen: number;
  /** The `--join` tables, loaded and checked: sent to every worker once per session. */
  joins: LoadedJoin[];
}

export interface OpenInput {
  store: Store;
  opts: CoordinatorOptions;
  file: ReadAt;
  size: number;
  mtimeMs: number;
  owner: string;
  startMs: number;
  lockStaleMs: number;
  ui: CoordinatorUi;
}

export async function openRun(i: OpenInput): Promise<OpenRun> {
  const o = i.opts;
  const table = (dataStart: number) =>
    lt.newLeaseTable({ dataStart, dataEnd: i.size, maxAttempts: o.maxAttempts, leaseMs: o.leaseTimeoutMs });
  const chunker = (
    dataStart: number,
    spec: ScanSpec,
    extra: Partial<ChunkerOptions> & { chunkSize: number },
  ) =>
    new Chunker(i.file, {
      dataStart,
      fileSize: i.size,
      maxChunk: MAX_CHUNK_SIZE,
      readData: o.transport === 'bytes',
      delimiter: spec.delimiter,
      maxFieldBytes: spec.maxFieldBytes,
      ...extra,
    });
  if (o.resume) {
    const r = resumeRun(i.store, o, { size: i.size, mtimeMs: i.mtimeMs }, i.owner, i.lockStaleMs);
    const t = table(r.run.data_start);
    lt.resumeTable(t, r.done, r.attempts);
    const bytesDone = lt.bytesDone(t);
    const rows = r.total.rows.toLocaleString('en-US');
    if (r.lostSpill.length > 0)
      i.ui.warn(
        `run ${r.run.id}: the keyed cells of ${r.lostSpill.length} done chunk(s) were lost (${r.spill.missing ? 'no spill file' : 'the spill file is short or damaged'}: ${r.spill.file}); they are counted again`,
      );
    i.ui.info(
      `resuming run ${r.run.id}: ${r.done.length} chunk(s) already done (${rows} rows), skipping ${bytesDone.toLocaleString('en-US')} bytes`,
    );
    return {
      runId: r.run.id,
      resumed: true,
      spec: r.spec,
      dataStart: r.run.data_start,
      total: r.total,
      workerStats: r.workerStats,
      table: t,
      chunker: chunker(r.run.data_start, r.spec, {
        chunkSize: r.run.chunk_size,
        careful: r.careful,
        skip: r.done,
        idAt: (start) => r.idByStart.get(start),
        firstId: r.firstId,
      }),
      bytesDone,
      chunksSeen: r.done.length,
      joins: r.joins,
    };
  }
  const { runId, layout, joins } = await newRun(i.store, o, i, i.owner, i.startMs, i.lockStaleMs, i.ui);
  return {
    runId,
    resumed: false,
    spec: layout.spec,
    dataStart: layout.dataStart,
    total: emptyAgg(layout.spec.scale),
    workerStats: new Map(),
    table: table(layout.dataStart),
    chunker: chunker(layout.dataStart, layout.spec, {
      chunkSize: o.chunkSize,
      careful: layout.quotedNewlines,
    }),
    bytesDone: 0,
    chunksSeen: 0,
    joins,
  };
}

async function newRun(
  store: Store,
  opts: CoordinatorOptions,
  input: { file: ReadAt; size: number; mtimeMs: number },
  owner: string,
  startMs: number,
  lockStaleMs: number,
  ui: CoordinatorUi,
): Promise<{ runId: number; layout: Layout; joins: LoadedJoin[] }> {
  const joins = opts.joins.map((j) => loadJoin(j, opts.maxJoinBytes));
  const sample = await readSample(input.file, input.size);
  const c = opts.columns;
  const plain = {
    ...c,
    dimensions: plainColumns(c.dimensions, opts.joins),
    marts: plainColumns(c.marts, opts.joins),
  };
  const detected = detectLayout({ ...sample, path: opts.file }, plain);
  const joined = applyJoins(detected.spec, detected.header, joins, c);
  const layout = { ...detected, spec: joined.spec, notes: [...detected.notes, ...joined.notes] };
  for (const n of layout.notes) ui.info(`detected ${n}`);
  for (const w of layout.warnings) ui.warn(w);
  const live = store.liveRunForFile(opts.file, lockStaleMs);
  if (live !== undefined && !ownerIsDead(live.lock_owner)) {
    throw new SalesgridError(
      'E_DB_LOCKED',
      `run ${live.id} over ${opts.file} is in progress in ${opts.db} (coordinator ${live.lock_owner}); use another --db or wait`,
      { exitCode: 2 },
    );
  }
  let runId = 0;
  // The run's row and its joined tables are one transaction: a run never exists without them.
  store.transaction(() => {
    runId = store.createRun({
      file: opts.file,
      size: input.size,
      mtimeMs: input.mtimeMs,
      options: {
        chunkSize: opts.chunkSize,
        columns: opts.columns,
        maxAttempts: opts.maxAttempts,
        transport: opts.transport,
        careful: layout.quotedNewlines,
        joins: joins.map((j) => ({ ...j.option, fingerprint: j.fingerprint })),
      },
      spec: layout.spec,
      dataStart: layout.dataStart,
      headerLines: layout.headerLines,
      chunkSize: opts.chunkSize,
      scale: layout.spec.scale,
      startedAt: iso(startMs),
      lockOwner: owner,
      chunksTotal: input.size === layout.dataStart ? 0 : null,
    });
    const factColumns = (layout.spec.joins ?? []).map((j) => layout.header[j.index]);
    saveJoinTables(store, runId, joins, factColumns);
  });
  return { runId, layout, joins };
}
