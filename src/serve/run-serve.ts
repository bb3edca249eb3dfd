/**
 * `salesgrid serve` and `run --ui`: start the dashboard and print its address (never the token).
 */
import fs from 'node:fs';
import type { ServeOptions } from '../config-views.js';
import { startServer } from './server.js';

export interface ServeHandle {
  url: string;
  close(): Promise<void>;
}

/** Starts the dashboard and prints where it is; `path` is the page to point at (e.g. /runs/latest). */
export async function openDashboard(opts: ServeOptions, page = '/'): Promise<ServeHandle> {
  const dash = await startServer(opts);
  const auth = opts.token === null ? '' : ' (log in with the token)';
  process.stderr.write(`dashboard: ${dash.url}${page}${auth}, over ${opts.db}\n`);
  return { url: dash.url, close: () => dash.close() };
}

/** Serves until SIGINT or SIGTERM, then closes cleanly; resolves with the exit code. */
export async function runServe(opts: ServeOptions): Promise<number> {
  const handle = await openDashboard(opts);
  if (!opts.quiet) process.stderr.write('press Ctrl-C to stop\n');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await handle.close();
  if (!opts.quiet) process.stderr.write(`stopped by ${signal}\n`);
  return 0;
}

/**
 * `run --ui`: the dashboard for the run this process is about to start. The database is created
 * first if it is new (by the store, as the run would), so the read-only server can open it.
 */
export async function openRunDashboard(
  opts: ServeOptions,
): Promise<ServeHandle & { keepUntilSignal(interrupted: boolean): Promise<void> }> {
  if (!fs.existsSync(opts.db)) {
    const { Store } = await import('../db/store.js');
    Store.open(opts.db).close();
  }
  const handle = await openDashboard(opts, '/runs/latest');
  return {
    ...handle,
    async keepUntilSignal(interrupted) {
      if (!interrupted) {
        process.stderr.write(`the dashboard stays up at ${handle.url}/runs/latest; press Ctrl-C to stop\n`);
        await new Promise<void>((resolve) => {
          const done = () => {
            process.off('SIGINT', done);
            process.off('SIGTERM', done);
            resolve();
          };
          process.on('SIGINT', done);
          process.on('SIGTERM', done);
        });
      }
      await handle.close();
    },
  };
}
