/** Stores mart cells for reader tests the way the end of a run does: sorted runs → merge → blocks. */
import { CellBlock, KeyedCellsWriter, NO_MONTH } from '../../src/aggregate/keyed-cells.js';
import { KeyedMerge } from '../../src/coordinator/keyed-merge.js';
import { writeMart } from '../../src/db/mart-blocks.js';
import type { Store } from '../../src/db/store.js';

/** 'YYYY-MM' → month index; '' → NO_MONTH. */
export function monthIndex(month: string): number {
  if (month === '') return NO_MONTH;
  return (Number(month.slice(0, 4)) - 1900) * 12 + Number(month.slice(5, 7)) - 1;
}

/** Cells [mart, month, key, rows, units, revenue × 10^scale] of one run, one (key, month) each. */
export function storeMarts(
  store: Store,
  runId: number,
  scale: number,
  cells: [string, string, string, number, bigint, bigint][],
): void {
  for (const mart of new Set(cells.map((c) => c[0]))) {
    const mine = cells
      .filter((c) => c[0] === mart)
      .map(([, month, key, rows, units, revenue]) => ({
        bytes: Buffer.from(key),
        month: monthIndex(month),
        rows,
        units,
        revenue,
      }))
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes) || a.month - b.month);
    const w = new KeyedCellsWriter(scale);
    let last: Buffer | null = null;
    for (const c of mine) {
      if (last === null || !last.equals(c.bytes)) w.key(c.bytes, 0, c.bytes.length);
      last = c.bytes;
      w.cellBig(c.month, c.rows, c.units, c.revenue);
    }
    const blocks = w.finish();
    let i = 0;
    writeMart(
      store.prep,
      runId,
      mart,
      new KeyedMerge([() => (i < blocks.length ? new CellBlock(blocks[i++]) : null)], scale),
    );
  }
}
