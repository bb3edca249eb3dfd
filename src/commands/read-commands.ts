/**
 * The commands over a finished run's database: `report`, `top` and `basket` open the store
 * read-only here; `eda` and `segment` open it themselves. Each view (and the store) loads on
 * demand, and the output goes to stdout.
 */
import type {
  BasketOptions,
  EdaCommandOptions,
  ReportCommandOptions,
  SegmentCommandOptions,
  TopCommandOptions,
} from '../config-views.js';

const loadStore = () => import('../db/store.js');

export async function reportCommand(o: ReportCommandOptions): Promise<void> {
  const [{ Store }, { buildReport, formatReport, pickRun }] = await Promise.all([
    loadStore(),
    import('../report.js'),
  ]);
  const store = Store.openReadOnly(o.db);
  try {
    const data = buildReport(store, pickRun(store, o.runId));
    process.stdout.write(o.json ? `${JSON.stringify(data, null, 2)}\n` : `${formatReport(data)}\n`);
  } finally {
    store.close();
  }
}

export async function topCommand(o: TopCommandOptions): Promise<void> {
  const [{ Store }, { pickRun }, { topRows, formatTop, topCsv }] = await Promise.all([
    loadStore(),
    import('../report.js'),
    import('../top.js'),
  ]);
  const store = Store.openReadOnly(o.db);
  try {
    const run = pickRun(store, o.runId);
    // In this key order: it is the order of `--json`'s fields.
    const opts = { column: o.column, per: o.per, by: o.by, limit: o.limit, label: o.label };
    const rows = topRows(store, run, opts);
    if (o.format === 'json')
      process.stdout.write(`${JSON.stringify({ runId: run.id, ...opts, rows }, null, 2)}\n`);
    else if (o.format === 'csv') process.stdout.write(topCsv(rows));
    else process.stdout.write(`${formatTop(rows, opts, run.id)}\n`);
  } finally {
    store.close();
  }
}

export async function basketCommand(opts: BasketOptions): Promise<void> {
  const [{ Store }, { runBasket }] = await Promise.all([loadStore(), import('../basket.js')]);
  const store = Store.openReadOnly(opts.db);
  try {
    process.stdout.write(runBasket(store, opts));
  } finally {
    store.close();
  }
}

export async function edaCommand(o: EdaCommandOptions): Promise<void> {
  const { runEda } = await import('../eda/run-eda.js');
  const result = await runEda({ db: o.db, runId: o.runId, out: o.out, svg: o.svg, topN: o.topN });
  if (o.quiet) return;
  const pngs = result.files.filter((f) => f.endsWith('.png'));
  const lines = [`run ${result.runId}: ${pngs.length} chart(s) in ${o.out}`, ...pngs.map((f) => `  ${f}`)];
  for (const why of result.skipped) lines.push(`  skipped ${why}`);
  const html = result.files.find((f) => f.endsWith('index.html'));
  if (html) lines.push(`open ${html} in a browser to see them all with the run's headline numbers`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function segmentCommand(opts: SegmentCommandOptions): Promise<void> {
  // `segment --csv | head`: a closed pipe ends the output, not the process with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const { runSegmentCommand } = await import('../segment/run-segment-command.js');
  runSegmentCommand(
    opts,
    (t) => process.stdout.write(t),
    (t) => process.stderr.write(`${t}\n`),
  );
}
