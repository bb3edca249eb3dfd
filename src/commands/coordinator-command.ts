/**
 * `salesgrid coordinator`: the console UI, Ctrl-C as an interrupt, the end-of-run summary and the
 * exit code of an interrupted run.
 */
import type { CoordinatorOptions } from '../config.js';
import { Coordinator } from '../coordinator/coordinator.js';
import { printFailedSummary, printSummary } from '../print-summary.js';
import { consoleCoordinatorUi } from '../ui.js';
import { onSignals, signalExit } from './signals.js';

export async function coordinatorCommand(opts: CoordinatorOptions): Promise<void> {
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
}
