/** Baskets computed independently of the code under test: plain JS sets over a file's rows. */
import { type BasketTotals, countBaskets } from '../../src/aggregate/basket-count.js';
import { CellBlock, type KeyedRun } from '../../src/aggregate/keyed-cells.js';
import { RUN_ITEMS, RUN_PAIRS, RUN_RANGE } from '../../src/worker/basket-runs.js';

export interface RefBaskets {
  orders: number;
  lines: number;
  /** Sum of the rows' values in cents. */
  value: bigint;
  noOrderLines: number;
  items: Map<string, number>;
  /** "a\0b" (a < b by bytes) → orders holding both. */
  pairs: Map<string, number>;
  linesHist: Map<number, number>;
  itemsHist: Map<number, number>;
}

const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** rows: [order, item, value in cents] of counted rows, in file order. */
export function referenceBaskets(rows: [string, string, bigint][]): RefBaskets {
  const byOrder = new Map<string, { lines: number; items: Set<string> }>();
  let value = 0n;
  let noOrderLines = 0;
  for (const [order, item, v] of rows) {
    if (order === '') {
      noOrderLines++;
      continue;
    }
    value += v;
    let o = byOrder.get(order);
    if (o === undefined) byOrder.set(order, (o = { lines: 0, items: new Set() }));
    o.lines++;
    if (item !== '') o.items.add(item);
  }
  const items = new Map<string, number>();
  const pairs = new Map<string, number>();
  const linesHist = new Map<number, number>();
  const itemsHist = new Map<number, number>();
  let lines = 0;
  for (const o of byOrder.values()) {
    lines += o.lines;
    linesHist.set(o.lines, (linesHist.get(o.lines) ?? 0) + 1);
    itemsHist.set(o.items.size, (itemsHist.get(o.items.size) ?? 0) + 1);
    const list = [...o.items].sort(cmp);
    for (const i of list) items.set(i, (items.get(i) ?? 0) + 1);
    for (let x = 0; x < list.length; x++)
      for (let y = x + 1; y < list.length; y++) {
        const k = `${list[x]}\0${list[y]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
      }
  }
  return { orders: byOrder.size, lines, value, noOrderLines, items, pairs, linesHist, itemsHist };
}

export interface Counted {
  totals: BasketTotals;
  items: Map<string, number>;
  pairs: Map<string, number>;
}

/** The end of a run over in-memory chunk runs (the coordinator's counting, without SQLite). */
export function countRuns(chunks: KeyedRun[][], scale: number, k = 1000): Counted {
  const items = new Map<string, number>();
  const pairs = new Map<string, number>();
  const totals = countBaskets(
    (name) =>
      chunks.flatMap((runs) =>
        runs
          .filter((r) => r.kind === 'basket' && r.name === name)
          .map((r) => {
            let i = 0;
            return () => (i < r.blocks.length ? new CellBlock(r.blocks[i++]) : null);
          }),
      ),
    chunks.flatMap((runs) =>
      runs
        .filter((r) => r.kind === 'basket' && r.name === RUN_RANGE)
        .map((r) => {
          const key = new CellBlock(r.blocks[0]).keyText(0);
          const cut = key.indexOf('\0');
          return { lo: key.slice(0, cut), hi: key.slice(cut + 1) };
        }),
    ),
    scale,
    k,
    {
      item: (item, orders) => items.set(item, orders),
      pair: (a, b, orders) => pairs.set(`${a}\0${b}`, orders),
    },
    () =>
      chunks
        .filter((runs) => runs.some((r) => r.kind === 'basket' && r.name === RUN_PAIRS))
        .map((runs) => {
          const source = (name: string) => {
            const blocks = runs.find((r) => r.kind === 'basket' && r.name === name)?.blocks ?? [];
            let i = 0;
            return () => (i < blocks.length ? new CellBlock(blocks[i++]) : null);
          };
          return { items: source(RUN_ITEMS), pairs: source(RUN_PAIRS) };
        }),
  );
  return { totals, items, pairs };
}

const sorted = <V>(m: Map<string, V>) => [...m].sort((a, b) => cmp(a[0], b[0]));
const hist = (m: Map<number, number>) => [...m].sort((a, b) => a[0] - b[0]);

/** The counted result in the reference's shape, for one toEqual. */
export function asReference(c: Counted): RefBaskets & { nonContiguous: number } {
  return {
    orders: c.totals.orders,
    lines: c.totals.lines,
    value: c.totals.value,
    noOrderLines: c.totals.noOrderLines,
    items: new Map(sorted(c.items)),
    pairs: new Map(sorted(c.pairs)),
    linesHist: new Map(c.totals.linesHist),
    itemsHist: new Map(c.totals.itemsHist),
    nonContiguous: c.totals.nonContiguous,
  };
}

export function normalized(r: RefBaskets): RefBaskets & { nonContiguous: number } {
  return {
    ...r,
    items: new Map(sorted(r.items)),
    pairs: new Map(sorted(r.pairs)),
    linesHist: new Map(hist(r.linesHist)),
    itemsHist: new Map(hist(r.itemsHist)),
    nonContiguous: 0,
  };
}
