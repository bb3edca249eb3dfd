/**
 * The `salesgrid` command line: parses argv with commander, validates through config.ts, calls
 * the run* functions, and sets process.exitCode. No logic of its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import {
  CUSTOMER_OPTION_TABLE,
  DEFAULT_DATA,
  DEFAULT_DB,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_RETAIL_DATA,
  JOIN_OPTION_TABLE,
  ORDER_OPTION_TABLE,
  parseCoordinatorOptions,
  parseWorkerOptions,
  type RawCoordinatorFlags,
  type RawGenerateFlags,
  type RawWorkerFlags,
  RETAIL_DEFAULTS,
  RETAIL_LIMITS,
} from './config.js';
import { parseIntOption } from './config-values.js';
import {
  BASKET_OPTION_TABLE,
  parseBasketOptions,
  parseSegmentOptions,
  parseServeOptions,
  parseUiOptions,
  type RawBasketFlags,
  type RawSegmentFlags,
  type RawServeFlags,
  SEGMENT_OPTION_TABLE,
  SERVE_OPTION_TABLE,
} from './config-views.js';
import { mayHaveCustomers } from './coordinator/customer-columns.js';
import { errorMessage, SalesgridError, UsageError } from './errors.js';
import { printFailedSummary, printSummary } from './print-summary.js';
import { runGenerate, STAR_CUSTOMERS } from './run-generate.js';

// Command implementations load on demand, so a worker process starts without the coordinator's,
// the database's or the charts' modules.
const load = {
  coordinator: () => import('./coordinator/coordinator.js'),
  store: () => import('./db/store.js'),
  generate: () => import('./generate.js'),
  report: () => import('./report.js'),
  top: () => import('./top.js'),
  basket: () => import('./basket.js'),
  eda: () => import('./eda/run-eda.js'),
  local: () => import('./run-local.js'),
  ui: () => import('./ui.js'),
  worker: () => import('./worker/run-worker.js'),
  serve: () => import('./serve/run-serve.js'),
  segment: () => import('./segment/run-segment-command.js'),
};

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The first line of a local file ('' for a URL or an unreadable file: the run reports those). */
function firstLine(file: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) return '';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      const text = buf.toString('utf8', 0, n);
      const nl = text.indexOf('\n');
      return nl < 0 ? text : text.slice(0, nl);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function addColumnOptions(cmd: Command): Command {
  for (const o of CUSTOMER_OPTION_TABLE) cmd.option(o.flags, o.description);
  cmd
    .option('--price <col>', 'unit price column (default: detected from common names)')
    .option('--quantity <col>', 'quantity column (default: detected; 1 per row when absent)')
    .option('--revenue <col>', "line-total column to use as each row's revenue instead of price × quantity")
    .option('--date <col>', 'date column for monthly/yearly results (default: detected)')
    .option('--date-format <fmt>', 'mdy, dmy or ymd (default: detected from a sample)')
    .option('--dimension <col>', 'a column to break revenue down by (repeatable)', collect)
    .option('--delimiter <d>', 'field delimiter: , ; | or tab (default: detected)')
    .option(
      '--mart <col>',
      'also aggregate revenue per (value of this column, month), for `top` (repeatable)',
      collect,
    )
    .option(
      '--max-keys <n>',
      'most distinct values of a dimension or mart within one chunk (a guard: runs hold no keys in memory)',
      '1000000',
    )
    .option(
      '--max-field-bytes <size>',
      'most bytes a quoted field may hold; a quote still open past this is judged broken and its line rejected',
      '1MiB',
    );
  for (const o of ORDER_OPTION_TABLE) cmd.option(o.flags, o.description);
  return cmd;
}

function addRunOptions(cmd: Command): Command {
  for (const o of JOIN_OPTION_TABLE) {
    if (o.repeatable) cmd.option(o.flags, o.description, collect);
    else cmd.option(o.flags, o.description);
  }
  return addColumnOptions(
    cmd
      .option('--db <path>', 'SQLite database', DEFAULT_DB)
      .option('--chunk-size <size>', 'bytes per chunk, e.g. 4MiB, 512KiB (default: 4MiB)')
      .option('--max-attempts <n>', 'tries per chunk before the run fails', '3')
      .option('--lease-timeout <s>', 'seconds a worker may hold a chunk (default: grows with --chunk-size)')
      .option('--wait-timeout <s>', 'give up when no worker is connected for this long (default: wait)')
      .option('--resume', 'continue the last unfinished run over this file in --db')
      .option(
        '--token <token>',
        'shared secret; with it every connection is TLS 1.3 keyed by the token (default: $SALESGRID_TOKEN)',
      )
      .option('--quiet', 'no progress or info lines')
      .option('--json', 'print the end-of-run summary as JSON'),
  );
}

/** Installs SIGINT/SIGTERM handlers that call `stop`; a second signal exits at once. */
function onSignals(stop: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    stop(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

const signalExit = (signal: NodeJS.Signals | null) => (signal === 'SIGTERM' ? 143 : 130);

async function ensureDataset(file: string, quiet: boolean): Promise<void> {
  if (fs.existsSync(file)) return;
  if (!quiet)
    process.stderr.write(`${file} is missing; generating the default dataset (5,000,000 rows, seed 42)\n`);
  const { generateCsv } = await load.generate();
  await generateCsv({
    rows: 5_000_000,
    seed: 42,
    out: file,
    onProgress: quiet
      ? undefined
      : (rows: number) => {
          if (process.stderr.isTTY) process.stderr.write(`\r  ${rows.toLocaleString('en-US')} rows`);
        },
  });
  if (!quiet && process.stderr.isTTY) process.stderr.write('\n');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('salesgrid')
    .description(
      'Aggregate large sales CSV files exactly across a coordinator and worker processes over TCP.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('generate')
    .description(
      'write a seeded CSV: the "5m Sales Records" layout, retail order lines, or a star-schema fact table',
    )
    .addOption(
      new Option(
        '--layout <name>',
        'reference: the 5m Sales Records columns; retail: order lines with customers; star: sales facts keyed by customer',
      )
        .choices(['reference', 'retail', 'star'])
        .default('reference'),
    )
    .option('--rows <n>', 'data rows (default: 5000000, retail: 1000000)')
    .option('--seed <n>', 'random seed (same seed, same bytes)', '42')
    .option('--out <path>', `output file (default: ${DEFAULT_DATA}, retail: ${DEFAULT_RETAIL_DATA})`)
    .option('--quote-text', 'quote every text field, as R write.csv does (reference layout)')
    .option(
      '--customers <n>',
      `retail: number of customers (default: ${RETAIL_DEFAULTS.customers}); star: distinct customers, a few buy often, most rarely (default: ${STAR_CUSTOMERS})`,
    )
    .option('--products <n>', `retail: number of products (default: ${RETAIL_DEFAULTS.products})`)
    .option(
      '--categories <n>',
      `retail: number of product categories, up to ${RETAIL_LIMITS.categories} and --products (default: one per 5 products, at most 10)`,
    )
    .option(
      '--lines-per-order <n>',
      `retail: mean lines per order, up to ${RETAIL_LIMITS.linesPerOrder} (default: about 2.2)`,
    )
    .option('--with-dimensions', 'retail: also write customers.csv, stores.csv, sales_team.csv next to --out')
    .option('--quiet', 'no progress')
    .action((o: RawGenerateFlags) => runGenerate(o));

  addRunOptions(
    program
      .command('coordinator')
      .description('listen for workers, hand out chunks of <csv>, merge and store the results')
      .argument(
        '<csv>',
        'the sales CSV: a file, or an https:// URL read with Range requests (http:// on loopback)',
      )
      .option('--host <host>', 'address to listen on (non-loopback needs --token)', DEFAULT_HOST)
      .option('--port <port>', 'port to listen on (0 = any free port)', String(DEFAULT_PORT))
      .option('--handshake-timeout <s>', 'seconds a new connection has to say hello', '10')
      .option('--tls-cert <pem>', 'prove this coordinator with a certificate instead of the token (TLS 1.3)')
      .option('--tls-key <pem>', 'the private key of --tls-cert')
      .option('--tls-ca <pem>', 'require worker certificates signed by this CA')
      .option('--max-slots <n>', 'most chunks in flight to one worker, whatever it asks for', '4')
      .option(
        '--linger <s>',
        'seconds to stay after the end, telling reconnecting workers the run is over',
        '3',
      )
      .option('--peer-timeout <s>', 'drop a worker not heard from this long (pings every third of it)', '15')
      .addOption(
        new Option('--transport <kind>', 'send chunk bytes, or byte ranges when workers share the file')
          .choices(['bytes', 'range'])
          .default('bytes'),
      ),
  ).action(async (csv: string, o: RawCoordinatorFlags) => {
    const opts = parseCoordinatorOptions(csv, o);
    const [{ Coordinator }, { consoleCoordinatorUi }] = await Promise.all([load.coordinator(), load.ui()]);
    const ui = consoleCoordinatorUi({ quiet: opts.quiet || opts.json });
    if (opts.token === null && !opts.quiet) ui.info('no token set: accepting loopback workers only');
    const coordinator = new Coordinator(opts, ui);
    let signal: NodeJS.Signals | null = null;
    const off = onSignals((s) => {
      signal = s;
      coordinator.interrupt();
    });
    try {
      const summary = await coordinator.run();
      ui.close();
      await printSummary(summary, opts.json, 'coordinator');
      if (summary.status === 'interrupted') process.exitCode = signalExit(signal);
    } catch (err) {
      ui.close();
      printFailedSummary(err, opts.json);
      throw err;
    } finally {
      off();
    }
  });

  program
    .command('worker')
    .description('connect to a coordinator and parse chunks until the run is over')
    .option('--connect <host:port>', 'coordinator address', `${DEFAULT_HOST}:${DEFAULT_PORT}`)
    .option('--id <id>', 'worker name in results (default: hostname-pid)')
    .option('--token <token>', 'shared secret (default: $SALESGRID_TOKEN)')
    .option('--slots <n>', 'chunks in flight to this worker', '2')
    .option('--retry-for <s>', 'keep trying to reach the coordinator this long (not with --stay)', '120')
    .option(
      '--stay',
      'after a run, wait without limit for the next coordinator at the same address (Ctrl-C stops, exit 130)',
    )
    .option('--peer-timeout <s>', 'reconnect when the coordinator has sent nothing for this long', '20')
    .option(
      '--accept-ranges <file|url>',
      "read this file or URL for byte-range tasks; its size, mtime and content must match the coordinator's",
    )
    .option('--tls-ca <pem>', "check the coordinator's certificate against this CA (when it has --tls-cert)")
    .option('--tls-cert <pem>', 'a client certificate to show the coordinator')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option('--quiet', 'warnings only')
    .option(
      '--parse <mode>',
      'parser: auto (WASM SIMD where the run allows), wasm or js (default: $SALESGRID_PARSE)',
    )
    .action(async (o: RawWorkerFlags) => {
      const opts = parseWorkerOptions(o);
      const [{ runWorker }, { consoleWorkerUi }] = await Promise.all([load.worker(), load.ui()]);
      const ui = consoleWorkerUi(opts.quiet);
      const off = onSignals((s) => {
        if (!opts.quiet) ui.warn(`${opts.id}: stopped by ${s}`);
        process.exit(signalExit(s));
      });
      try {
        await runWorker(opts, ui);
      } finally {
        off();
      }
    });

  addRunOptions(
    program
      .command('run')
      .description('coordinator plus N local worker processes, in one command')
      .argument('[csv]', 'the sales CSV file', DEFAULT_DATA)
      .option('--workers <n>', 'worker processes', String(os.availableParallelism()))
      .option('--slots <n>', 'chunks in flight per worker (default 2; 1 when the run builds customers)')
      .option('--generate', `generate the default dataset first if <csv> is missing`)
      .option('--ui', 'serve the live dashboard on 127.0.0.1 while the run goes, and after it until Ctrl-C')
      .option('--ui-port <port>', 'dashboard port for --ui (0 = any free port)', undefined)
      .addOption(
        new Option(
          '--transport <kind>',
          'byte ranges (the local children read the file; saves a loopback copy) or chunk bytes',
        )
          .choices(['bytes', 'range'])
          .default('range'),
      ),
  ).action(
    async (
      csv: string,
      o: RawCoordinatorFlags & {
        workers: string;
        slots?: string;
        generate?: boolean;
        ui?: boolean;
        uiPort?: string;
      },
    ) => {
      const workers = parseIntOption('--workers', o.workers, 1, 256);
      const slotsGiven = o.slots === undefined ? null : parseIntOption('--slots', o.slots, 1, 64);
      // Its own children: no one reconnects after the end, and their slots are its own choice.
      const opts = parseCoordinatorOptions(csv, {
        ...o,
        host: DEFAULT_HOST,
        port: '0',
        linger: '0',
      });
      const uiOpts = parseUiOptions(opts.db, o.ui, o.uiPort, o.token);
      if (o.generate) await ensureDataset(csv, opts.quiet);
      const dashboard = uiOpts === null ? null : await (await load.serve()).openRunDashboard(uiOpts);
      let finished = false;
      // Bind the port and start the workers before loading the coordinator: they boot meanwhile.
      const [{ listen }, { serverSecurity }, { LocalWorkers }, { randomBytes }] = await Promise.all([
        import('./protocol/socket-channel.js'),
        import('./protocol/tls-security.js'),
        import('./local-workers.js'),
        import('node:crypto'),
      ]);
      const token = opts.token ?? randomBytes(24).toString('hex');
      const listener = await listen(
        DEFAULT_HOST,
        0,
        undefined,
        serverSecurity(token, opts.handshakeTimeoutMs),
      );
      const pool = new LocalWorkers();
      const onExit = () => pool.killAll();
      process.on('exit', onExit);
      let local: InstanceType<Awaited<ReturnType<typeof load.local>>['LocalRun']> | null = null;
      let early: NodeJS.Signals | null = null;
      const off = onSignals((s) => {
        early = s;
        local?.interrupt(s);
      });
      const c = opts.columns;
      const customers = mayHaveCustomers(firstLine(opts.file), c);
      const keyed =
        c.marts !== undefined ||
        c.dimensions !== undefined ||
        c.item !== undefined ||
        c.basket === true ||
        customers;
      // A chunk of a customers run leaves ~6 MB of results per chunk in flight: with one slot a
      // worker's peak at 1M customers fell from 151–159 to 138–147 MB, at the same wall time.
      const slots = slotsGiven ?? (customers ? 1 : 2);
      pool.spawn(workers, listener.host, listener.port, token, slots, opts.file, keyed);
      const [{ LocalRun }, { consoleCoordinatorUi }] = await Promise.all([load.local(), load.ui()]);
      const ui = consoleCoordinatorUi({ quiet: opts.quiet || opts.json });
      local = new LocalRun(pool);
      if (early) local.interrupt(early);
      try {
        const summary = await local.run(
          { ...opts, maxSlots: slots, token, port: listener.port },
          listener,
          ui,
        );
        ui.close();
        await printSummary(summary, opts.json, 'run');
        finished = true;
        if (summary.status === 'interrupted') process.exitCode = signalExit(local.signal);
      } catch (err) {
        ui.close();
        printFailedSummary(err, opts.json);
        throw err;
      } finally {
        off();
        process.off('exit', onExit);
        // The dashboard stays up after a run that ended by itself; a failure is reported at once.
        if (dashboard !== null) await dashboard.keepUntilSignal(!finished || local?.signal !== null);
      }
    },
  );

  const serve = program
    .command('serve')
    .description('the dashboard: runs, live progress and an explorer in the browser, over --db (read-only)');
  for (const o of SERVE_OPTION_TABLE) serve.option(o.flags, o.description, o.default);
  serve.action(async (o: RawServeFlags) => {
    const opts = parseServeOptions(o);
    process.exitCode = await (await load.serve()).runServe(opts);
  });

  program
    .command('report')
    .description("print a run's totals, monthly table, workers and rejects from the database")
    .option('--db <path>', 'SQLite database', DEFAULT_DB)
    .option('--run <id>', 'run id (default: the latest)')
    .option('--json', 'machine-readable output')
    .action(async (o: { db: string; run?: string; json?: boolean }) => {
      const runId =
        o.run === undefined ? undefined : parseIntOption('--run', o.run, 1, Number.MAX_SAFE_INTEGER);
      const [{ Store }, { buildReport, formatReport, pickRun }] = await Promise.all([
        load.store(),
        load.report(),
      ]);
      const store = Store.openReadOnly(o.db);
      try {
        const data = buildReport(store, pickRun(store, runId));
        process.stdout.write(o.json ? `${JSON.stringify(data, null, 2)}\n` : `${formatReport(data)}\n`);
      } finally {
        store.close();
      }
    });

  const basket = program
    .command('basket')
    .description(
      'market-basket rules A → B (support, confidence, lift) of a run counted with --order and --item',
    );
  for (const o of BASKET_OPTION_TABLE) basket.option(o.flags, o.description, o.default);
  basket.action(async (o: RawBasketFlags) => {
    const opts = parseBasketOptions(o);
    const [{ Store }, { runBasket }] = await Promise.all([load.store(), load.basket()]);
    const store = Store.openReadOnly(opts.db);
    try {
      process.stdout.write(runBasket(store, opts));
    } finally {
      store.close();
    }
  });

  program
    .command('eda')
    .description('render charts of a finished run from the database to PNG (and an index.html)')
    .option('--db <path>', 'SQLite database', DEFAULT_DB)
    .option('--run <id>', 'run id (default: the latest finished run)')
    .option('--out <dir>', 'output folder', 'results/charts')
    .addOption(
      new Option('--format <fmt>', 'png, or svg to write SVG files too')
        .choices(['png', 'svg'])
        .default('png'),
    )
    .option('--top <n>', 'keys shown per dimension chart', '10')
    .option('--quiet', 'print nothing on success')
    .action(
      async (o: {
        db: string;
        run?: string;
        out: string;
        format: 'png' | 'svg';
        top: string;
        quiet?: boolean;
      }) => {
        const runId =
          o.run === undefined ? undefined : parseIntOption('--run', o.run, 1, Number.MAX_SAFE_INTEGER);
        const topN = parseIntOption('--top', o.top, 1, 100);
        const { runEda } = await load.eda();
        const result = await runEda({ db: o.db, runId, out: o.out, svg: o.format === 'svg', topN });
        if (o.quiet) return;
        const pngs = result.files.filter((f) => f.endsWith('.png'));
        const lines = [
          `run ${result.runId}: ${pngs.length} chart(s) in ${o.out}`,
          ...pngs.map((f) => `  ${f}`),
        ];
        for (const why of result.skipped) lines.push(`  skipped ${why}`);
        const html = result.files.find((f) => f.endsWith('index.html'));
        if (html) lines.push(`open ${html} in a browser to see them all with the run's headline numbers`);
        process.stdout.write(`${lines.join('\n')}\n`);
      },
    );

  program
    .command('top')
    .description('the top keys of a data mart (a column given with --mart) per month, year or overall')
    .argument('<col>', 'the mart column, e.g. customer_id')
    .addOption(
      new Option('--per <period>', 'rank within each').choices(['month', 'year', 'all']).default('month'),
    )
    .addOption(
      new Option('--by <metric>', 'rank by').choices(['revenue', 'units', 'rows']).default('revenue'),
    )
    .option('--limit <n>', 'keys per period', '10')
    .option(
      '--label <col>',
      'the joined column shown beside each key (default: the first text column of its --join table)',
    )
    .option('--db <path>', 'SQLite database', DEFAULT_DB)
    .option('--run <id>', 'run id (default: the latest)')
    .option('--json', 'machine-readable output')
    .option('--csv', 'CSV output')
    .action(
      async (
        column: string,
        o: {
          per: 'month' | 'year' | 'all';
          by: 'revenue' | 'units' | 'rows';
          limit: string;
          db: string;
          run?: string;
          json?: boolean;
          csv?: boolean;
          label?: string;
        },
      ) => {
        const limit = parseIntOption('--limit', o.limit, 1, 1_000_000);
        const runId =
          o.run === undefined ? undefined : parseIntOption('--run', o.run, 1, Number.MAX_SAFE_INTEGER);
        if (o.json && o.csv) throw new UsageError('choose one of --json and --csv');
        const [{ Store }, { pickRun }, { topRows, formatTop, topCsv }] = await Promise.all([
          load.store(),
          load.report(),
          load.top(),
        ]);
        const store = Store.openReadOnly(o.db);
        try {
          const run = pickRun(store, runId);
          const opts = { column, per: o.per, by: o.by, limit, label: o.label };
          const rows = topRows(store, run, opts);
          if (o.json) process.stdout.write(`${JSON.stringify({ runId: run.id, ...opts, rows }, null, 2)}\n`);
          else if (o.csv) process.stdout.write(topCsv(rows));
          else process.stdout.write(`${formatTop(rows, opts, run.id)}\n`);
        } finally {
          store.close();
        }
      },
    );

  const segment = program
    .command('segment')
    .description(
      "segment a run's customers: KMeans after PCA, RFM segments and lifetime-value deciles (needs a run with a customer column)",
    );
  for (const o of SEGMENT_OPTION_TABLE) segment.option(o.flags, o.description, o.default);
  segment.action(async (o: RawSegmentFlags) => {
    const opts = parseSegmentOptions(o);
    // `segment --csv | head`: a closed pipe ends the output, not the process with a stack trace.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
    const { runSegmentCommand } = await load.segment();
    runSegmentCommand(
      opts,
      (t) => process.stdout.write(t),
      (t) => process.stderr.write(`${t}\n`),
    );
  });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 2;
  }
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
        ? 0
        : 2;
    }
    const code = err instanceof SalesgridError ? err.exitCode : 1;
    const prefix = err instanceof UsageError ? 'usage error' : 'error';
    process.stderr.write(`salesgrid: ${prefix}: ${errorMessage(err)}\n`);
    if (!(err instanceof SalesgridError) && err instanceof Error && process.env.SALESGRID_DEBUG)
      process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
