/**
 * The `salesgrid` command line: declares the commands with commander, validates their options
 * through config*.ts, hands them to the command modules, and sets process.exitCode. No logic of
 * its own.
 */
import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import {
  DEFAULT_DATA,
  DEFAULT_DB,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_RETAIL_DATA,
  parseCoordinatorOptions,
  parseRunOptions,
  parseWorkerOptions,
  type RawCoordinatorFlags,
  type RawGenerateFlags,
  type RawRunFlags,
  type RawWorkerFlags,
  RETAIL_DEFAULTS,
  RETAIL_LIMITS,
} from './config.js';
import { COLUMN_OPTION_TABLE, JOIN_OPTION_TABLE, type OptionRow } from './config-columns.js';
import {
  BASKET_OPTION_TABLE,
  parseBasketOptions,
  parseEdaOptions,
  parseReportOptions,
  parseSegmentOptions,
  parseServeOptions,
  parseTopOptions,
  parseUiOptions,
  type RawBasketFlags,
  type RawEdaFlags,
  type RawReportFlags,
  type RawSegmentFlags,
  type RawServeFlags,
  type RawTopFlags,
  SEGMENT_OPTION_TABLE,
  SERVE_OPTION_TABLE,
} from './config-views.js';
import { errorMessage, SalesgridError, UsageError } from './errors.js';
import { runGenerate, STAR_CUSTOMERS } from './run-generate.js';

// Command implementations load on demand, so a worker process starts without the coordinator's,
// the database's or the charts' modules.
const load = {
  coordinator: () => import('./commands/coordinator-command.js'),
  worker: () => import('./commands/worker-command.js'),
  run: () => import('./commands/run-command.js'),
  read: () => import('./commands/read-commands.js'),
  serve: () => import('./serve/run-serve.js'),
};

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Adds a table's rows to `cmd`, collecting the values of a repeatable one. */
function addRows(cmd: Command, table: readonly OptionRow[]): Command {
  for (const o of table) {
    if (o.repeatable) cmd.option(o.flags, o.description, collect);
    else cmd.option(o.flags, o.description, o.default);
  }
  return cmd;
}

function addRunOptions(cmd: Command): Command {
  addRows(cmd, JOIN_OPTION_TABLE);
  return addRows(
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
    COLUMN_OPTION_TABLE,
  );
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
    await (await load.coordinator()).coordinatorCommand(opts);
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
      await (await load.worker()).workerCommand(opts);
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
  ).action(async (csv: string, o: RawRunFlags) => {
    const opts = parseRunOptions(csv, o);
    const uiOpts = parseUiOptions(opts.coordinator.db, o.ui, o.uiPort, o.token);
    await (await load.run()).runCommand(csv, opts, uiOpts);
  });

  const serve = program
    .command('serve')
    .description('the dashboard: runs, live progress and an explorer in the browser, over --db (read-only)');
  addRows(serve, SERVE_OPTION_TABLE);
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
    .action(async (o: RawReportFlags) => {
      const opts = parseReportOptions(o);
      await (await load.read()).reportCommand(opts);
    });

  const basket = program
    .command('basket')
    .description(
      'market-basket rules A → B (support, confidence, lift) of a run counted with --order and --item',
    );
  addRows(basket, BASKET_OPTION_TABLE);
  basket.action(async (o: RawBasketFlags) => {
    const opts = parseBasketOptions(o);
    await (await load.read()).basketCommand(opts);
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
    .action(async (o: RawEdaFlags) => {
      const opts = parseEdaOptions(o);
      await (await load.read()).edaCommand(opts);
    });

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
    .action(async (column: string, o: RawTopFlags) => {
      const opts = parseTopOptions(column, o);
      await (await load.read()).topCommand(opts);
    });

  const segment = program
    .command('segment')
    .description(
      "segment a run's customers: KMeans after PCA, RFM segments and lifetime-value deciles (needs a run with a customer column)",
    );
  addRows(segment, SEGMENT_OPTION_TABLE);
  segment.action(async (o: RawSegmentFlags) => {
    const opts = parseSegmentOptions(o);
    await (await load.read()).segmentCommand(opts);
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
