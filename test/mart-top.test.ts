/**
 * A stored mart (db/mart-blocks.ts) against a brute-force computation: random cells split into
 * random sorted runs, merged and written as blocks with small rank depths, then every reader —
 * `martTop` for every period and metric within and past the stored depth, a key's months, the
 * dashboard's ranked and searched key pages, the whole cell stream — equals the brute force.
 * Amounts pass 2^63 and go negative; keys include multi-byte UTF-8 and ties.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CellBlock, KeyedCellsWriter, NO_MONTH } from '../src/aggregate/keyed-cells.js';
import { monthKey } from '../src/aggregate/mart.js';
import {
  combineParts,
  type MartPart,
  mergeToBlocks,
  partFromJson,
  partToJson,
} from '../src/aggregate/mart-part.js';
import type { By, Per } from '../src/aggregate/mart-ranking.js';
import { KeyedMerge } from '../src/coordinator/keyed-merge.js';
import { martCells, martKeyCells, martKeyPage, martTop, writeMart } from '../src/db/mart-blocks.js';
import { storeWithRun } from './helpers/store.js';

const KEYS = ['a', 'b', 'ab', 'B', 'é', 'z', '日本', 'c1', 'c10', 'c2', '😀', 'Ab', 'xAbx'];
const MONTHS = [1488, 1489, 1495, 1500, 1501]; // 2024-01, 2024-02, 2024-08, 2025-01, 2025-02

interface Cell {
  key: string;
  month: number;
  units: bigint;
  revenue: bigint;
}

const cellArb = fc.record({
  key: fc.constantFrom(...KEYS),
  month: fc.constantFrom(...MONTHS),
  units: fc.bigInt({ min: -3n, max: 50n }),
  revenue: fc.oneof(
    fc.constantFrom(0n, 5n, 100n),
    fc.bigInt({ min: -(10n ** 6n), max: 10n ** 9n }),
    fc.bigInt({ min: 10n ** 18n, max: 10n ** 22n }),
    // Pairs of these sum around 2^53, where a float sum stops being exact.
    fc.bigInt({ min: 2n ** 52n - 20n, max: 2n ** 52n + 20n }),
  ),
});

/** One sorted run of blocks from cells (summed per key and month, as a worker sends them). */
function runBlocks(cells: Cell[], blockCells: number): Uint8Array[] {
  const sums = new Map<string, Cell & { rows: number; bytes: Buffer }>();
  for (const c of cells) {
    const id = `${c.key}\u0000${c.month}`;
    const s = sums.get(id) ?? { ...c, units: 0n, revenue: 0n, rows: 0, bytes: Buffer.from(c.key) };
    s.rows++;
    s.units += c.units;
    s.revenue += c.revenue;
    sums.set(id, s);
  }
  const sorted = [...sums.values()].sort((x, y) => Buffer.compare(x.bytes, y.bytes) || x.month - y.month);
  const w = new KeyedCellsWriter(2, blockCells);
  let last: Buffer | null = null;
  for (const s of sorted) {
    if (last === null || !last.equals(s.bytes)) w.key(s.bytes, 0, s.bytes.length);
    last = s.bytes;
    w.cellBig(s.month, s.rows, s.units, s.revenue);
  }
  return w.finish();
}

interface Sum {
  rows: number;
  units: bigint;
  revenue: bigint;
}

function add(m: Map<string, Map<string, Sum>>, period: string, key: string, c: Cell): void {
  let p = m.get(period);
  if (p === undefined) m.set(period, (p = new Map()));
  const s = p.get(key) ?? { rows: 0, units: 0n, revenue: 0n };
  s.rows++;
  s.units += c.units;
  s.revenue += c.revenue;
  p.set(key, s);
}

/** Brute force: sums per period and key, ranked by the metric, ties by key bytes. */
function bruteTop(cells: Cell[], per: Per, by: By, limit: number) {
  const m = new Map<string, Map<string, Sum>>();
  for (const c of cells) {
    const period = per === 'month' ? monthKey(c.month) : per === 'year' ? monthKey(c.month).slice(0, 4) : '';
    add(m, period, c.key, c);
  }
  const out: {
    period: string;
    rank: number;
    key: string;
    rows: bigint;
    units: bigint;
    revenueScaled: bigint;
  }[] = [];
  for (const period of [...m.keys()].sort()) {
    const v = (s: Sum) => (by === 'revenue' ? s.revenue : by === 'units' ? s.units : BigInt(s.rows));
    const ranked = [...(m.get(period) as Map<string, Sum>)].sort(([ka, a], [kb, b]) =>
      v(a) > v(b) ? -1 : v(a) < v(b) ? 1 : Buffer.compare(Buffer.from(ka), Buffer.from(kb)),
    );
    ranked.slice(0, limit).forEach(([key, s], i) => {
      out.push({ period, rank: i + 1, key, rows: BigInt(s.rows), units: s.units, revenueScaled: s.revenue });
    });
  }
  return out;
}

const blockOf = (b: Uint8Array) => new CellBlock(b);

const PERS: Per[] = ['month', 'year', 'all'];
const BYS: By[] = ['revenue', 'units', 'rows'];

describe('stored marts against brute force', () => {
  it('rankings, key months, key pages and the cell stream', () => {
    fc.assert(
      fc.property(
        fc.array(cellArb, { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        (cells, chunks, blockCells, seed) => {
          // Random chunking: each chunk is its own sorted run.
          const parts: Cell[][] = Array.from({ length: chunks }, () => []);
          cells.forEach((c, i) => {
            parts[(i * 7 + seed) % chunks].push(c);
          });
          const { store, runId } = storeWithRun();
          const runs = parts.map((p) => runBlocks(p, blockCells));
          const merge = new KeyedMerge(
            runs.map((blocks) => {
              let i = 0;
              return () => (i < blocks.length ? blockOf(blocks[i++]) : null);
            }),
            2,
          );
          const depths = { month: 2, year: 3, all: 4 };
          const written = writeMart(store.prep, runId, 'c', merge, depths);
          expect(written.keys).toBe(new Set(cells.map((c) => c.key)).size);

          for (const per of PERS)
            for (const by of BYS)
              for (const limit of [1, 2, 3, 5, 20])
                expect(martTop(store.prep, runId, 'c', per, by, limit), `${per} ${by} ${limit}`).toEqual(
                  bruteTop(cells, per, by, limit),
                );

          const all = bruteTop(cells, 'all', 'revenue', 1000);
          for (const search of ['', 'b', 'AB', '1', 'nothing'])
            for (const [limit, offset] of [
              [2, 0],
              [3, 2],
              [50, 0],
              [2, 5],
              [1, 100],
            ]) {
              const want = all.filter((r) =>
                r.key.replace(/[A-Z]/g, (x) => x.toLowerCase()).includes(search.toLowerCase()),
              );
              const expected = want.slice(offset, offset + limit).map((r) => ({
                rank: r.rank,
                key: r.key,
                rows: Number(r.rows),
                units: r.units,
                revenue: r.revenueScaled,
              }));
              // Deep offsets skip in steps (bounded memory): a step of 1 or 2 must not change the page.
              for (const step of [undefined, 1, 2]) {
                const page = martKeyPage(store.prep, runId, 'c', search, limit, offset, step);
                expect(page.total, `step ${step}`).toBe(want.length);
                expect(page.items, `step ${step}`).toEqual(expected);
              }
            }

          const byCell = new Map<string, Sum>();
          for (const c of cells) {
            const id = `${c.key}|${monthKey(c.month)}`;
            const s = byCell.get(id) ?? { rows: 0, units: 0n, revenue: 0n };
            s.rows++;
            s.units += c.units;
            s.revenue += c.revenue;
            byCell.set(id, s);
          }
          const stream = new Map<string, Sum>();
          for (const c of martCells(store.prep, runId, 'c'))
            stream.set(`${c.key}|${c.month}`, { rows: c.rows, units: c.units, revenue: c.revenue });
          expect(stream).toEqual(byCell);
          for (const key of [...KEYS, 'missing', '']) {
            const got = martKeyCells(store.prep, runId, 'c', key).map((c) => `${c.key}|${c.month}`);
            const want = [...byCell.keys()].filter((id) => id.startsWith(`${key}|`)).sort();
            expect(got).toEqual(want);
          }
          store.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a merge split at any key gives the same part (the parallel end of a run)', () => {
    const cellsOf = (blocks: Uint8Array[]) =>
      blocks.flatMap((bytes) => {
        const b = new CellBlock(bytes);
        return Array.from(
          { length: b.nCells },
          (_, i) =>
            `${b.keyText(b.cellKey[i])}|${b.month[i]}|${b.rows[i]}|${b.unitsBig(i)}|${b.revenueBig(i)}`,
        );
      });
    const norm = (p: MartPart) => ({
      ...p,
      blocks: 0,
      rankings: p.rankings.map((r) => ({
        ...r,
        entries: r.entries.map((e) => ({ ...e, units: String(e.units), revenue: String(e.revenue) })),
      })),
    });
    fc.assert(
      fc.property(
        fc.array(cellArb, { minLength: 0, maxLength: 120 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(...KEYS, '', 'c', 'c15', 'zz', '\uffff'),
        (cells, chunks, blockCells, pivot) => {
          const parts: Cell[][] = Array.from({ length: chunks }, () => []);
          cells.forEach((c, i) => {
            parts[(i * 5) % chunks].push(c);
          });
          const runs = parts.map((p) => runBlocks(p, blockCells));
          const merge = (range = {}) =>
            new KeyedMerge(
              runs.map((blocks) => {
                let i = 0;
                return () => (i < blocks.length ? blockOf(blocks[i++]) : null);
              }),
              2,
              range,
            );
          const depths = { month: 2, year: 3, all: 4 };
          const collect = (into: Uint8Array[]) => (bs: Uint8Array[]) => {
            into.push(...bs);
          };
          const wholeBlocks: Uint8Array[] = [];
          const whole = mergeToBlocks('c', merge(), depths, collect(wholeBlocks));
          const at = Buffer.from(pivot);
          const lowBlocks: Uint8Array[] = [];
          const low = mergeToBlocks('c', merge({ until: at }), depths, collect(lowBlocks));
          const highBlocks: Uint8Array[] = [];
          const high = mergeToBlocks('c', merge({ from: at }), depths, collect(highBlocks));
          // The high part travels as JSON from the child process that merges it.
          const both = combineParts(low, partFromJson(partToJson(high)), depths);
          expect(norm(both)).toEqual(norm(whole));
          expect(both.blocks).toBe(lowBlocks.length + highBlocks.length);
          expect([...cellsOf(lowBlocks), ...cellsOf(highBlocks)]).toEqual(cellsOf(wholeBlocks));
          for (const c of cellsOf(lowBlocks))
            expect(Buffer.compare(Buffer.from(c.split('|')[0]), at)).toBe(-1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a mart without dates ranks overall only', () => {
    const { store, runId } = storeWithRun();
    const blocks = runBlocks(
      [
        { key: 'x', month: NO_MONTH, units: 1n, revenue: 10n },
        { key: 'y', month: NO_MONTH, units: 2n, revenue: 30n },
      ],
      8,
    );
    let i = 0;
    writeMart(
      store.prep,
      runId,
      'c',
      new KeyedMerge([() => (i < blocks.length ? blockOf(blocks[i++]) : null)], 2),
    );
    expect(martTop(store.prep, runId, 'c', 'all', 'revenue', 5).map((r) => [r.period, r.key])).toEqual([
      ['', 'y'],
      ['', 'x'],
    ]);
    expect(martTop(store.prep, runId, 'c', 'month', 'revenue', 5)).toEqual([]);
    expect(store.martNames(runId)).toEqual(['c']);
    store.close();
  });
});
