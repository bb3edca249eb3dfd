/**
 * `salesgrid segment`: reads one run's customers table (streamed in customer order), runs the pure
 * segmentation, replaces the run's segment tables in one transaction and prints the result as
 * human tables, JSON or a CRM CSV.
 */
import fs from 'node:fs';
import type { SegmentCommandOptions } from '../config-views.js';
import { CUSTOMER_NAMES } from '../coordinator/customer-columns.js';
import {
  CUSTOMER_ROW_COLUMNS,
  type CustomerReadNotes,
  customerRows,
  type StoredCustomer,
} from '../db/customers.js';
import { Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import { renderSegment, segmentCsvLines, segmentJson } from './format.js';
import { customerSegments, runSegment, type SegmentResult } from './run-segment.js';

export interface SegmentOutput {
  runId: number;
  result: SegmentResult;
  notes: string[];
}

const BATCH = 64;

/** Segments the run's customers and stores the segments; throws a coded error for bad input. */
export function segmentRun(opts: SegmentCommandOptions): SegmentOutput {
  if (!fs.existsSync(opts.db))
    throw new SalesgridError(
      'E_NO_RUN',
      `no database at ${opts.db}; run "salesgrid run <csv>" first, or pass --db`,
      {
        exitCode: 2,
      },
    );
  const store = Store.open(opts.db);
  try {
    const run = opts.run === null ? store.latestRun('done') : store.getRun(opts.run);
    if (run === undefined)
      throw new SalesgridError(
        'E_NO_RUN',
        opts.run === null ? `no finished run in ${opts.db}` : `no run ${opts.run} in ${opts.db}`,
        { exitCode: 2 },
      );
    if (run.status !== 'done')
      throw new SalesgridError(
        'E_NO_RUN',
        `run ${run.id} is ${run.status}, not done: finish it first (--resume)`,
        {
          exitCode: 2,
        },
      );
    const runId = run.id;
    if (store.statement('SELECT 1 FROM customers WHERE run_id = ? LIMIT 1').get(runId) === undefined)
      throw new SalesgridError(
        'E_NO_CUSTOMERS',
        `run ${runId} has no customers: its file had no customer column (detected: ${CUSTOMER_NAMES.join(', ')}); run it again naming one with --customer COL (and --order COL, --category COL)`,
        { exitCode: 2 },
      );
    const notes: CustomerReadNotes = { emptyIdRows: 0, undated: 0 };
    const cursor = store
      .statement(`SELECT ${CUSTOMER_ROW_COLUMNS} FROM customers WHERE run_id = ? ORDER BY customer`)
      .raw(true)
      .iterate(runId) as IterableIterator<StoredCustomer>;
    const { count } = store
      .statement('SELECT count(*) AS count FROM customers WHERE run_id = ?')
      .get(runId) as { count: number };
    let result: SegmentResult;
    try {
      result = runSegment(customerRows(cursor, notes), {
        seed: opts.seed,
        sizeHint: count,
        ...(opts.k === null ? {} : { k: opts.k }),
      });
    } catch (err) {
      if (err instanceof SalesgridError && err.code === 'E_TOO_FEW_CUSTOMERS' && notes.undated > 0)
        throw new SalesgridError(
          'E_NO_CUSTOMERS',
          `run ${runId} has no dated purchases to segment: recency and tenure need a date column (name it with --date)`,
          { exitCode: 2 },
        );
      throw err;
    }
    saveSegments(store, runId, opts.seed, result);
    const lines: string[] = [];
    if (notes.emptyIdRows > 0)
      lines.push(
        `${notes.emptyIdRows} row(s) with an empty customer id are not a customer and were left out`,
      );
    if (notes.undated > 0)
      lines.push(`${notes.undated} customer(s) without a purchase date up to 2079-06-05 were left out`);
    if (result.summary.refused) lines.push(result.summary.refused.message);
    return { runId, result, notes: lines };
  } finally {
    store.close();
  }
}

/** Replaces the run's segment_summaries, segments and customer_segments rows in one transaction. */
export function saveSegments(store: Store, runId: number, seed: number, result: SegmentResult): void {
  const { summary } = result;
  store.transaction(() => {
    for (const t of ['segment_summaries', 'segments', 'customer_segments'])
      store.statement(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
    store
      .statement(
        'INSERT INTO segment_summaries (run_id, created_at, seed, k, summary) VALUES (?, ?, ?, ?, ?)',
      )
      .run(runId, new Date().toISOString(), seed, summary.k, JSON.stringify(summary));
    const seg = store.statement(
      'INSERT INTO segments (run_id, cluster, customers, revenue, label, profile) VALUES (?, ?, ?, ?, ?, ?)',
    );
    for (const c of summary.clusters)
      seg.run(
        runId,
        c.cluster,
        c.customers,
        c.revenue,
        c.label,
        JSON.stringify({ profile: c.profile, zScores: c.zScores }),
      );
    const head = 'INSERT INTO customer_segments (run_id, customer, cluster, rfm_segment, clv_decile) VALUES';
    const full = store.statement(`${head} ${Array(BATCH).fill('(?, ?, ?, ?, ?)').join(', ')}`);
    const one = store.statement(`${head} (?, ?, ?, ?, ?)`);
    const values: unknown[] = [];
    for (const c of customerSegments(result)) {
      values.push(runId, c.customer, c.cluster, c.rfmSegment, c.clvDecile);
      if (values.length === BATCH * 5) {
        full.run(...values);
        values.length = 0;
      }
    }
    for (let i = 0; i < values.length; i += 5) one.run(...values.slice(i, i + 5));
  });
}

/** The command: prints to `write`, notes to `warn`. */
export function runSegmentCommand(
  opts: SegmentCommandOptions,
  write: (text: string) => void,
  warn: (text: string) => void,
): void {
  const { runId, result, notes } = segmentRun(opts);
  for (const n of notes) warn(n);
  if (opts.format === 'json') write(`${JSON.stringify(segmentJson(result.summary, runId), null, 2)}\n`);
  else if (opts.format === 'csv') {
    let buf: string[] = [];
    for (const line of segmentCsvLines(result)) {
      buf.push(line);
      if (buf.length === 4096) {
        write(buf.join(''));
        buf = [];
      }
    }
    write(buf.join(''));
  } else write(`run ${runId}\n${renderSegment(result.summary)}`);
}
