/**
 * The reduce side against an independent computation: random cells, random chunkings, random block
 * sizes and scales, and random commit faults (rolled-back transactions, replayed commits, runs of
 * abandoned cuts, a careful restart) through the real spill tables. Whatever happens, every cell of
 * every chunk that ends up done counts exactly once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedCellsWriter, type KeyedRun, NO_MONTH } from '../src/aggregate/keyed-cells.js';
import { monthKey } from '../src/aggregate/mart.js';
import { deleteCellRuns, mergedDimensionRows, mergedMartRows, saveCellRuns } from '../src/db/cell-runs.js';
import { storeWithRun } from './helpers/store.js';

const KEYS = [
  ...['a', 'b', 'ab', 'B', 'é', 'z', '日本', '', 'c0001', 'c0002', 'c00010', '😀', '\uffff'],
  // Past the merge's 12-byte prefixes, and zero bytes against its zero padding.
  ...[
    'customer-000000001',
    'customer-000000010',
    'customer-00000001',
    'customer-0000',
    'a\u0000',
    'a\u0000\u0000',
  ],
];

interface Row {
  key: string;
  month: number;
  units: number;
  /** Revenue at the chunk's scale is value × 10^(scale - decimals). */
  cents: bigint;
}

const row = fc.record({
  key: fc.constantFrom(...KEYS),
  month: fc.constantFrom(0, 1, 700, 1500, NO_MONTH),
  units: fc.integer({ min: -5, max: 1000 }),
  cents: fc.oneof(
    fc.bigInt({ min: -(10n ** 6n), max: 10n ** 9n }),
    fc.bigInt({ min: 10n ** 15n, max: 10n ** 25n }),
  ),
});

/** A chunk's cells as a worker would send them: summed per (key, month), sorted by bytes, in blocks. */
function runOf(rows: Row[], kind: 'mart' | 'dim', scale: number, blockCells: number): KeyedRun {
  const sums = new Map<
    string,
    { key: Buffer; month: number; rows: number; units: bigint; revenue: bigint }
  >();
  for (const r of rows) {
    const month = kind === 'dim' ? NO_MONTH : r.month;
    const id = `${r.key}\u0000${month}`;
    const c = sums.get(id) ?? { key: Buffer.from(r.key), month, rows: 0, units: 0n, revenue: 0n };
    c.rows++;
    c.units += BigInt(r.units);
    c.revenue += r.cents * 10n ** BigInt(scale - 2);
    sums.set(id, c);
  }
  const cells = [...sums.values()].sort((x, y) => Buffer.compare(x.key, y.key) || x.month - y.month);
  const w = new KeyedCellsWriter(scale, blockCells);
  let last: Buffer | null = null;
  for (const c of cells) {
    if (last === null || !last.equals(c.key)) w.key(c.key, 0, c.key.length);
    last = c.key;
    w.cellBig(c.month, c.rows, c.units, c.revenue);
  }
  return { kind, name: kind === 'dim' ? 'Region' : 'customer', blocks: w.finish() };
}

/** The expected table, computed from the rows directly at scale 4. */
function reference(rows: Row[], kind: 'mart' | 'dim'): Map<string, [number, string, bigint]> {
  const out = new Map<string, [number, string, bigint]>();
  for (const r of rows) {
    const id = kind === 'dim' ? r.key : `${monthKey(r.month)}|${r.key}`;
    const c = out.get(id) ?? [0, '0', 0n];
    out.set(id, [c[0] + 1, (BigInt(c[1]) + BigInt(r.units)).toString(), c[2] + r.cents * 100n]);
  }
  return out;
}

function scaledOf(text: string): bigint {
  const neg = text.startsWith('-');
  const [i, f = ''] = (neg ? text.slice(1) : text).split('.');
  const v = BigInt(i + f.padEnd(4, '0'));
  return neg ? -v : v;
}

type Fault = 'ok' | 'rollback' | 'replay' | 'abandoned';

describe('keyed merge: exactly once through the spill, against an independent computation', () => {
  it('holds for random chunkings, block sizes, scales and commit faults', () => {
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.constantFrom<Fault>('ok', 'ok', 'rollback', 'replay', 'abandoned'), {
          minLength: 12,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        (rows, sizes, faults, blockCells, restart) => {
          const { store, runId } = storeWithRun(':memory:', { scale: 4 });
          try {
            const done = store.statement(
              "UPDATE chunks SET status = 'done' WHERE run_id = ? AND chunk_id = ?",
            );
            let nextId = 0;
            const commitAll = () => {
              let at = 0;
              let k = 0;
              while (at < rows.length || k === 0) {
                const part = rows.slice(at, at + sizes[k % sizes.length]);
                at += sizes[k % sizes.length];
                const id = nextId++;
                const scale = 2 + ((id * 7) % 3);
                const runs = [runOf(part, 'mart', scale, blockCells), runOf(part, 'dim', scale, blockCells)];
                store.recordDispatch(runId, id, id, id + 1, 1, 'w', 'now');
                const fault = faults[k % faults.length];
                if (fault === 'rollback') {
                  expect(() =>
                    store.transaction(() => {
                      saveCellRuns(store, runId, id, runs);
                      done.run(runId, id);
                      throw new Error('crash inside the commit');
                    }),
                  ).toThrow('crash inside the commit');
                }
                if (fault === 'abandoned') {
                  // A result for a cut given up: its runs may be stored, its chunk never becomes done.
                  saveCellRuns(store, runId, id, runs);
                  const again = nextId++;
                  store.recordDispatch(runId, again, again, again + 1, 1, 'w', 'now');
                  store.transaction(() => {
                    saveCellRuns(store, runId, again, runs);
                    done.run(runId, again);
                  });
                } else {
                  store.transaction(() => {
                    saveCellRuns(store, runId, id, runs);
                    done.run(runId, id);
                  });
                  if (fault === 'replay') saveCellRuns(store, runId, id, runs);
                }
                k++;
              }
            };
            if (restart) {
              commitAll();
              // A careful restart forgets every chunk and its runs; the file is read again.
              store.transaction(() => {
                store.resetRunForCarefulCuts(runId, 'now');
                deleteCellRuns(store, runId);
              });
            }
            commitAll();
            const marts = new Map<string, [number, string, bigint]>();
            let prev: [Buffer, string] | null = null;
            for (const [name, month, key, n, units, revenue, scaled] of mergedMartRows(
              store,
              runId,
              ['customer'],
              4,
            )) {
              // Strictly ascending by (key bytes, month): the order the stored blocks need.
              const kb = Buffer.from(key);
              if (prev !== null) {
                const c = Buffer.compare(prev[0], kb);
                const m = month === '' ? '\uffff' : month;
                expect(c < 0 || (c === 0 && prev[1] < m), `${key} ${month} after ${prev[0]}`).toBe(true);
              }
              // NO_MONTH ('') sorts after every month.
              prev = [kb, month === '' ? '\uffff' : month];
              expect(name).toBe('customer');
              expect(scaledOf(revenue)).toBe(BigInt(scaled));
              marts.set(`${month}|${key}`, [n, String(units), scaledOf(revenue)]);
            }
            expect(marts).toEqual(reference(rows, 'mart'));
            const dims = new Map<string, [number, string, bigint]>();
            for (const [, key, c] of mergedDimensionRows(store, runId, ['Region'], 4))
              dims.set(key, [c.rows, c.units, scaledOf(c.revenue)]);
            expect(dims).toEqual(reference(rows, 'dim'));
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
