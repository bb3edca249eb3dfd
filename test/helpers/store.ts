/** A store holding one fresh run, for the tests of what a run spills, merges and stores. */
import { type NewRun, Store } from '../../src/db/store.js';

export function storeWithRun(file = ':memory:', over: Partial<NewRun> = {}): { store: Store; runId: number } {
  const store = Store.open(file);
  const runId = store.createRun({
    file: 'x.csv',
    size: 1,
    mtimeMs: 0,
    options: {},
    spec: {},
    dataStart: 0,
    headerLines: 1,
    chunkSize: 1,
    scale: 2,
    startedAt: 'now',
    lockOwner: 't',
    chunksTotal: null,
    ...over,
  });
  return { store, runId };
}
