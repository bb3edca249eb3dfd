/**
 * The close of a large mart with a second process (db/mart-close.ts, coordinator/merge-child.ts):
 * real SQLite files and the built child. Split at a pivot, taken whole by the child, or merged here
 * after the child failed, the stored mart (every cell, the rankings, the summary row) is the same as
 * a merge in one process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeyedCellsWriter, type KeyedRun } from '../src/aggregate/keyed-cells.js';
import { chunksWithLostSpill, saveCellRuns } from '../src/db/cell-runs.js';
import { martCells } from '../src/db/mart-blocks.js';
import { type MartWritten, startMartClose } from '../src/db/mart-close.js';
import { tmpDir } from './helpers/e2e.js';
import { storeWithRun } from './helpers/store.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.SALESGRID_END_SPLIT;
  delete process.env.SALESGRID_MERGE_CHILD_FAIL;
  delete process.env.SALESGRID_MERGE_STALL_MS;
});

let seed = 7;
const rnd = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

/** A chunk's sorted run: `n` random customers (some keys past 12 bytes, some multi-byte), 1–3 months each. */
function chunkRun(n: number): KeyedRun {
  const keys = new Set<string>();
  while (keys.size < n) {
    const k = rnd(5000);
    keys.add(
      k % 7 === 0
        ? `customer-with-a-long-id-${k}`
        : k % 11 === 0
          ? `ß-${k}`
          : `C${String(k).padStart(6, '0')}`,
    );
  }
  const sorted = [...keys].map((k) => Buffer.from(k)).sort(Buffer.compare);
  const w = new KeyedCellsWriter(2);
  for (const k of sorted) {
    w.key(k, 0, k.length);
    const m0 = 1488 + rnd(20);
    for (let m = 0; m <= rnd(3); m++)
      w.cellBig(m0 + m, 1 + rnd(3), BigInt(rnd(50)), BigInt(rnd(1_000_000)) * 10n ** BigInt(rnd(12)));
  }
  return { kind: 'mart', name: 'customer_id', blocks: w.finish() };
}

const runs = Array.from({ length: 9 }, () => chunkRun(1500));

/** Spills the runs as done chunks (one never done), closes the marts, and returns what is stored. */
function close(name: string, busy: boolean): { written: MartWritten[]; stored: unknown } {
  const { store, runId } = storeWithRun(path.join(dir, name));
  const done = store.statement("UPDATE chunks SET status = 'done' WHERE run_id = ? AND chunk_id = ?");
  runs.forEach((r, id) => {
    store.recordDispatch(runId, id, id, id + 1, 1, 'w', 'now');
    store.transaction(() => {
      saveCellRuns(store, runId, id, [r]);
      if (id !== 4) done.run(runId, id);
    });
  });
  let written: MartWritten[] = [];
  store.transaction(() => {
    const marts = startMartClose(store, runId, ['customer_id'], 2, { consume: true, busy });
    written = marts.finish();
  });
  const cells = [...martCells(store.prep, runId, 'customer_id')].map(
    (c) => `${c.key}|${c.month}|${c.rows}|${c.units}|${c.revenue}`,
  );
  const stored = {
    cells,
    rank: store
      .prep('SELECT per, by, period, rank, key, rows, units, revenue FROM mart_rank ORDER BY 1, 2, 3, 4')
      .all(),
    info: store.prep('SELECT keys, cells, first_month, last_month FROM mart_info').all(),
    // Block boundaries move with a split; the seqs must stay 0 … n-1, as mart_info says.
    blocks: store
      .prep(
        'SELECT COUNT(*) = MAX(seq) + 1 AND MIN(seq) = 0 AND COUNT(*) = (SELECT blocks FROM mart_info) AS ok FROM mart_blocks',
      )
      .get(),
  };
  store.close();
  return { written, stored };
}

describe('the close of a large mart with a child process', () => {
  it('split at a pivot, whole in the child, or here after the child failed: the same stored mart', () => {
    process.env.SALESGRID_END_SPLIT = 'off';
    const one = close('one.db', false);
    expect(one.written[0].how).toBe('here');
    expect(one.stored).toMatchObject({ info: [{ keys: expect.any(Number) }] });

    process.env.SALESGRID_END_SPLIT = '1';
    // What a coordinator killed after its child finished leaves: removed by the next close.
    fs.writeFileSync(path.join(dir, 'split.db-merge-1-4242-0-1'), 'stale');
    const split = close('split.db', false);
    expect(split.written[0].how).toBe('split');
    expect(split.stored).toEqual(one.stored);

    const child = close('child.db', true);
    expect(child.written[0].how).toBe('child');
    expect(child.stored).toEqual(one.stored);

    process.env.SALESGRID_MERGE_CHILD_FAIL = '1';
    const failed = close('failed.db', false);
    expect(failed.written[0]).toMatchObject({
      how: 'fallback',
      childError: expect.stringContaining('failing on request'),
    });
    expect(failed.stored).toEqual(one.stored);

    // A child that hangs is killed once its output stops growing; its range is merged here.
    process.env.SALESGRID_MERGE_CHILD_FAIL = 'hang';
    process.env.SALESGRID_MERGE_STALL_MS = '300';
    const hung = close('hung.db', false);
    expect(hung.written[0]).toMatchObject({ how: 'fallback', childError: 'it made no progress for 0.3s' });
    expect(hung.stored).toEqual(one.stored);
    // No child's file is left beside the database.
    expect(fs.readdirSync(dir).filter((f) => f.includes('-merge-'))).toEqual([]);
  }, 60_000);

  it('a damaged spill block fails the close (no wrong sums) and is found again for --resume', () => {
    process.env.SALESGRID_END_SPLIT = 'off';
    const { store, runId } = storeWithRun(path.join(dir, 'damaged.db'));
    const done = store.statement("UPDATE chunks SET status = 'done' WHERE run_id = ? AND chunk_id = ?");
    runs.forEach((r, id) => {
      store.recordDispatch(runId, id, id, id + 1, 1, 'w', 'now');
      store.transaction(() => {
        saveCellRuns(store, runId, id, [r]);
        done.run(runId, id);
      });
    });
    const [{ off, len }] = store.query<{ off: number; len: number }>(
      'SELECT off, len FROM cell_runs WHERE run_id = ? AND chunk_id = 3 AND seq = 0',
      runId,
    );
    // One flipped bit in the amounts' words at the block's end: its header still reads.
    const spill = store.spill(runId).path;
    const fd = fs.openSync(spill, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, off + len - 1);
    b[0] ^= 1;
    fs.writeSync(fd, b, 0, 1, off + len - 1);
    fs.closeSync(fd);
    expect(() =>
      store.transaction(() =>
        startMartClose(store, runId, ['customer_id'], 2, { consume: true, busy: false }).finish(),
      ),
    ).toThrow(/spill file \S*damaged\.db-spill-\d+ is damaged \(the block at byte \d+ fails its CRC\)/);
    expect(chunksWithLostSpill(store, runId)).toEqual([3]);
    store.close();
  });
});
