/** Test helpers: a chunk's keyed-cell runs read back as plain maps (through the real decoder and merge). */
import { CellBlock, type KeyedRun } from '../../src/aggregate/keyed-cells.js';
import { monthKey } from '../../src/aggregate/mart.js';
import type { Cell, ChunkOutcome } from '../../src/aggregate/partial.js';
import { KeyedMerge } from '../../src/coordinator/keyed-merge.js';

/** Cells of the runs of one mart or dimension merged at `scale`: key (and "|YYYY-MM" for marts) → cell. */
export function cellsOf(
  runs: KeyedRun[],
  kind: 'mart' | 'dim',
  name: string,
  scale: number,
): Map<string, Cell> {
  const sources = runs
    .filter((r) => r.kind === kind && r.name === name)
    .map((r) => {
      let i = 0;
      return () => (i < r.blocks.length ? new CellBlock(r.blocks[i++]) : null);
    });
  const m = new KeyedMerge(sources, scale);
  const out = new Map<string, Cell>();
  while (m.next()) {
    const key = kind === 'mart' ? `${m.keyText()}|${monthKey(m.month)}` : m.keyText();
    out.set(key, { rows: m.rows, units: BigInt(m.units), revenue: BigInt(m.revenue) });
  }
  return out;
}

/** A chunk's dimensions as maps, as the aggregate held them before keyed cells. */
export function dimsOf(out: ChunkOutcome): Map<string, Map<string, Cell>> {
  const dims = new Map<string, Map<string, Cell>>();
  for (const r of out.cells)
    if (r.kind === 'dim') dims.set(r.name, cellsOf(out.cells, 'dim', r.name, out.agg.scale));
  return dims;
}
