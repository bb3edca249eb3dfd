/**
 * Starting a new run: the layout from a sample of the file, the refusal when another live
 * coordinator holds a run over the same file, and the run's row with the options it keeps.
 */
import type { FileHandle } from 'node:fs/promises';
import type { CoordinatorOptions } from '../config.js';
import type { Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import { iso, ownerIsDead, readSample } from './input.js';
import { detectLayout, type Layout } from './layout.js';
import type { CoordinatorUi } from './run-types.js';

export async function newRun(
  store: Store,
  opts: CoordinatorOptions,
  input: { file: FileHandle; size: number; mtimeMs: number },
  owner: string,
  startMs: number,
  lockStaleMs: number,
  ui: CoordinatorUi,
): Promise<{ runId: number; layout: Layout }> {
  const sample = await readSample(input.file, input.size);
  const layout = detectLayout({ ...sample, path: opts.file }, opts.columns);
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
  const runId = store.createRun({
    file: opts.file,
    size: input.size,
    mtimeMs: input.mtimeMs,
    options: {
      chunkSize: opts.chunkSize,
      columns: opts.columns,
      maxAttempts: opts.maxAttempts,
      transport: opts.transport,
      careful: layout.quotedNewlines,
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
  return { runId, layout };
}
