/**
 * `salesgrid run`: the default dataset generated when asked, the port bound and the worker
 * processes started before the coordinator's modules load (they boot meanwhile), slots per worker,
 * Ctrl-C, the summary, and the `--ui` dashboard kept up after the run.
 */
import fs from 'node:fs';
import { DEFAULT_HOST, type RunOptions } from '../config.js';
import type { ServeOptions } from '../config-views.js';
import { mayHaveCustomers } from '../coordinator/customer-columns.js';
import { printFailedSummary, printSummary } from '../print-summary.js';
import type { LocalRun } from '../run-local.js';
import { onSignals, signalExit } from './signals.js';

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

/** `--generate`: the default dataset (5,000,000 rows, seed 42) when `file` is missing. */
async function ensureDataset(file: string, quiet: boolean): Promise<void> {
  if (fs.existsSync(file)) return;
  if (!quiet)
    process.stderr.write(`${file} is missing; generating the default dataset (5,000,000 rows, seed 42)\n`);
  const { generateCsv } = await import('../generate.js');
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

/** `csv` as given on the command line (the dataset `--generate` writes); `uiOpts` from `--ui`. */
export async function runCommand(csv: string, run: RunOptions, uiOpts: ServeOptions | null): Promise<void> {
  const opts = run.coordinator;
  if (run.generate) await ensureDataset(csv, opts.quiet);
  const dashboard =
    uiOpts === null ? null : await (await import('../serve/run-serve.js')).openRunDashboard(uiOpts);
  let finished = false;
  // Bind the port and start the workers before loading the coordinator: they boot meanwhile.
  const [{ listen }, { serverSecurity }, { LocalWorkers }, { randomBytes }] = await Promise.all([
    import('../protocol/socket-channel.js'),
    import('../protocol/tls-security.js'),
    import('../local-workers.js'),
    import('node:crypto'),
  ]);
  const token = opts.token ?? randomBytes(24).toString('hex');
  const listener = await listen(DEFAULT_HOST, 0, undefined, serverSecurity(token, opts.handshakeTimeoutMs));
  const pool = new LocalWorkers();
  const onExit = () => pool.killAll();
  process.on('exit', onExit);
  let local: LocalRun | null = null;
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
  const slots = run.slots ?? (customers ? 1 : 2);
  pool.spawn(run.workers, listener.host, listener.port, token, slots, opts.file, keyed);
  const [{ LocalRun }, { consoleCoordinatorUi }] = await Promise.all([
    import('../run-local.js'),
    import('../ui.js'),
  ]);
  const ui = consoleCoordinatorUi({ quiet: opts.quiet || opts.json });
  local = new LocalRun(pool);
  if (early) local.interrupt(early);
  try {
    const summary = await local.run({ ...opts, maxSlots: slots, token, port: listener.port }, listener, ui);
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
}
