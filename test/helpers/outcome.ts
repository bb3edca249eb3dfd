/** A chunk's outcome in comparable form, for the tests that run one chunk through both parse paths. */
import type { ChunkOutcome } from '../../src/aggregate/partial.js';

/** Months sorted; keyed-cell blocks as their sizes and one hex string per run (fast to compare). */
export function shape(o: ChunkOutcome) {
  return {
    agg: { ...o.agg, months: [...o.agg.months].sort(([a], [b]) => (a < b ? -1 : 1)) },
    lines: o.lines,
    rejects: o.rejects,
    omitted: o.omitted,
    endsInQuote: o.endsInQuote,
    cells: o.cells.map((r) => ({
      kind: r.kind,
      name: r.name,
      sizes: r.blocks.map((b) => b.length),
      bytes: Buffer.concat(r.blocks).toString('hex'),
    })),
  };
}
