/** `salesgrid worker`: the console UI, and a signal that ends the process at once. */
import type { WorkerOptions } from '../config.js';
import { consoleWorkerUi } from '../ui.js';
import { runWorker } from '../worker/run-worker.js';
import { onSignals, signalExit } from './signals.js';

export async function workerCommand(opts: WorkerOptions): Promise<void> {
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
}
