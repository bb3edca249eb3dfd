/**
 * Orders and baskets under every chunking: the pure worker (parseChunk) on each chunk and the end
 * of a run's counting (countBaskets) must give what plain sets over the whole file give.
 */
import { describe, expect, it } from 'vitest';
import type { KeyedRun } from '../src/aggregate/keyed-cells.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { RUN_RANGE } from '../src/worker/basket-runs.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { asReference, countRuns, normalized, referenceBaskets } from './helpers/baskets.js';
import { Rng } from './helpers/prng.js';

function spec(over: Partial<ScanSpec> = {}): ScanSpec {
  return {
    delimiter: 0x2c,
    fieldCount: 4,
    price: 2,
    quantity: 3,
    revenue: -1,
    date: -1,
    dateFormat: null,
    decimalComma: false,
    scale: 2,
    dimensions: [],
    maxKeys: 1_000_000,
    names: ['order_id', 'item', 'price', 'quantity'],
    order: 0,
    item: 1,
    basketItems: 1000,
    ...over,
  };
}

type Row = [order: string, item: string, cents: number, qty: number];

const quote = (s: string) => (/[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** The file's lines (no header) and its rows as the reference sees them. */
function file(rows: Row[]): { lines: string[]; ref: [string, string, bigint][] } {
  return {
    lines: rows.map(
      ([o, i, c, q]) =>
        `${quote(o)},${quote(i)},${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')},${q}\n`,
    ),
    ref: rows.map(([o, i, c, q]) => [o, i, BigInt(c) * BigInt(q)]),
  };
}

/** Counts the lines cut before each index in `cuts`, chunk by chunk. */
function countCut(lines: string[], cuts: number[], k = 1000, over: Partial<ScanSpec> = {}) {
  const edges = [0, ...cuts, lines.length];
  const chunks: KeyedRun[][] = [];
  let scale = 2;
  for (let c = 0; c + 1 < edges.length; c++) {
    if (edges[c] === edges[c + 1]) continue;
    const out = parseChunk(Buffer.from(lines.slice(edges[c], edges[c + 1]).join('')), spec(over));
    scale = Math.max(scale, out.agg.scale);
    chunks.push(out.cells);
  }
  return asReference(countRuns(chunks, scale, k));
}

// Contiguous orders: single-item orders, an item twice in one order, a line without an item, a
// line without an order, quoted items with a comma and doubled quotes.
const CONTIGUOUS: Row[] = [
  ['1', 'milk', 120, 1],
  ['1', 'bread', 250, 2],
  ['1', 'milk', 120, 3],
  ['2', 'tea', 399, 1],
  ['3', 'milk', 120, 1],
  ['3', 'bread', 250, 1],
  ['3', 'jam, "best"', 500, 1],
  ['', 'milk', 120, 1],
  ['4', 'bread', 250, 1],
  ['5', '', 100, 1],
  ['5', 'tea', 399, 2],
  ['5', 'milk', 120, 1],
  ['6', 'jam, "best"', 500, 1],
  ['7', 'milk', 120, 1],
  ['7', 'milk', 120, 1],
  ['8', 'tea', 399, 1],
  ['8', 'bread', 250, 1],
];

describe('baskets at every chunk boundary', () => {
  it('contiguous orders: every one and two cuts give the self-join counts', () => {
    const { lines, ref } = file(CONTIGUOUS);
    const want = normalized(referenceBaskets(ref));
    expect(want.items.get('milk')).toBe(4); // order 1 holds milk twice: once
    expect(want.linesHist.get(1)).toBe(3); // single-line orders 2, 4, 6
    for (let i = 0; i <= lines.length; i++)
      for (let j = i; j <= lines.length; j++) expect(countCut(lines, [i, j]), `cuts ${i},${j}`).toEqual(want);
    // Every line its own chunk.
    expect(
      countCut(
        lines,
        lines.map((_, i) => i),
      ),
    ).toEqual(want);
  });

  it('an order seen again within a chunk is shipped and counted once', () => {
    const rows: Row[] = [
      ['a', 'x', 100, 1],
      ['b', 'y', 100, 1],
      ['a', 'y', 100, 1],
      ['c', 'x', 100, 1],
      ['a', 'z', 100, 1],
      ['d', 'x', 100, 1],
      ['d', 'y', 100, 1],
    ];
    const { lines, ref } = file(rows);
    const want = normalized(referenceBaskets(ref));
    expect(want.pairs.get('x\0y')).toBe(2);
    expect(countCut(lines, [])).toEqual(want);
  });

  it('an order split across chunks is exact when shipped by both, and refused when one chunk counted it', () => {
    const rows: Row[] = [
      ['a', 'x', 100, 1],
      ['b', 'y', 100, 1],
      ['c', 'x', 100, 1],
      ['a', 'y', 100, 1],
      ['d', 'z', 100, 1],
      ['e', 'x', 100, 1],
      ['a', 'z', 100, 1],
      ['f', 'y', 100, 1],
    ];
    const { lines, ref } = file(rows);
    const want = normalized(referenceBaskets(ref));
    let refused = 0;
    for (let i = 0; i <= lines.length; i++)
      for (let j = i; j <= lines.length; j++) {
        const got = countCut(lines, [i, j]);
        if (got.nonContiguous > 0) {
          refused++;
          expect(got.items.size, `cuts ${i},${j}`).toBe(0);
        } else expect(got, `cuts ${i},${j}`).toEqual(want);
      }
    expect(refused).toBeGreaterThan(0);
    expect(countCut(lines, [])).toEqual(want);
    // --orders-scattered: every order shipped, exact under every cut.
    for (let i = 0; i <= lines.length; i++)
      for (let j = i; j <= lines.length; j++)
        expect(countCut(lines, [i, j], 1000, { shipAllOrders: true }), `cuts ${i},${j}`).toEqual(want);
  });

  it('random files and random cuts agree with the self-join (or are refused only when an order really spans chunks)', () => {
    const rng = new Rng(14);
    for (let round = 0; round < 150; round++) {
      const items = Array.from({ length: rng.int(1, 8) }, (_, i) => `item${i}`);
      const rows: Row[] = [];
      const orders = rng.int(1, 25);
      const scattered = rng.chance(0.3);
      for (let o = 0; o < orders; o++) {
        const n = rng.int(1, 5);
        for (let l = 0; l < n; l++) rows.push([`o${o}`, rng.pick(items), rng.int(1, 99_999), rng.int(1, 5)]);
      }
      if (scattered)
        for (let s = 0; s < 5; s++)
          rows.splice(rng.int(0, rows.length), 0, [`o${rng.int(0, orders - 1)}`, rng.pick(items), 100, 1]);
      const { lines, ref } = file(rows);
      const want = normalized(referenceBaskets(ref));
      const cuts = Array.from({ length: rng.int(0, 6) }, () => rng.int(0, lines.length)).sort(
        (a, b) => a - b,
      );
      const got = countCut(lines, cuts);
      if (got.nonContiguous > 0) {
        // Only a file whose orders are not contiguous can be refused, and only when cut.
        expect(scattered && cuts.length > 0).toBe(true);
        expect(countCut(lines, cuts, 1000, { shipAllOrders: true }), `round ${round}`).toEqual(want);
        continue;
      }
      const k = rng.int(2, 10);
      const got2 = k === 1000 ? got : countCut(lines, cuts, k);
      expect({ ...got, pairs: undefined }, `round ${round}`).toEqual({ ...want, pairs: undefined });
      expect(got.pairs).toEqual(want.pairs);
      // With K: the pairs among the K most supported items (ties by name), exactly.
      const top = new Set(
        [...want.items]
          .sort((a, b) => b[1] - a[1] || Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
          .slice(0, k)
          .map(([i]) => i),
      );
      const kept = new Map([...want.pairs].filter(([p]) => p.split('\0').every((i) => top.has(i))));
      expect(got2.pairs, `round ${round} k ${k}`).toEqual(kept);
    }
  });

  it('more than 1,024 items in a chunk (sparse pair counts, pairs by item position) with K = 300', () => {
    const rng = new Rng(41);
    const items = Array.from({ length: 3000 }, (_, i) => `p${(i * 7919) % 3000}-${'x'.repeat(i % 5)}`);
    const rows: Row[] = [];
    for (let o = 0; o < 4000; o++) {
      const n = rng.int(1, 6);
      // A skewed pick: low indexes are popular, so the top K is not every item.
      for (let l = 0; l < n; l++)
        rows.push([String(o + 1), items[Math.floor(rng.next() ** 2 * 3000)], 100, 1]);
    }
    const { lines, ref } = file(rows);
    const want = normalized(referenceBaskets(ref));
    expect(want.items.size).toBeGreaterThan(1500);
    const top = new Set(
      [...want.items]
        .sort((a, b) => b[1] - a[1] || Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
        .slice(0, 300)
        .map(([i]) => i),
    );
    const kept = new Map([...want.pairs].filter(([p]) => p.split('\0').every((i) => top.has(i))));
    expect(kept.size).toBeGreaterThan(100);
    for (const cuts of [[], [5000], [3000, 9000, 12000]]) {
      const got = countCut(lines, cuts, 300);
      expect({ ...got, pairs: undefined }, `cuts ${cuts}`).toEqual({ ...want, pairs: undefined });
      expect(got.pairs, `cuts ${cuts}`).toEqual(kept);
    }
  });

  it('chunks of many ascending ids send only their range; an id inside another chunk range is caught', () => {
    const rng = new Rng(1414);
    let ranged = 0;
    let refused = 0;
    for (let round = 0; round < 40; round++) {
      const rows: Row[] = [];
      // Numeric ids ascend in shortlex order (9 before 10), not in byte order.
      for (let o = 1; o <= 400; o++) {
        const n = rng.int(1, 3);
        for (let l = 0; l < n; l++) rows.push([String(o * 3), `i${rng.int(0, 6)}`, rng.int(1, 999), 1]);
      }
      const stray = round % 2 === 1;
      if (stray) {
        // One more line of an early order, far later in the file.
        const o = String(3 * rng.int(2, 100));
        rows.splice(rng.int(Math.floor(rows.length * 0.6), rows.length), 0, [o, 'i9', 100, 1]);
      }
      const { lines, ref } = file(rows);
      const want = normalized(referenceBaskets(ref));
      const cuts = Array.from({ length: rng.int(1, 4) }, () => rng.int(0, lines.length)).sort(
        (a, b) => a - b,
      );
      const edges = [0, ...cuts, lines.length];
      for (let c = 0; c + 1 < edges.length; c++) {
        const out = parseChunk(Buffer.from(lines.slice(edges[c], edges[c + 1]).join('')), spec());
        if (out.cells.some((r) => r.name === RUN_RANGE)) ranged++;
      }
      const got = countCut(lines, cuts);
      if (got.nonContiguous > 0) {
        refused++;
        expect(stray, `round ${round}`).toBe(true);
        expect(countCut(lines, cuts, 1000, { shipAllOrders: true })).toEqual(want);
      } else expect(got, `round ${round}`).toEqual(want);
    }
    expect(ranged).toBeGreaterThan(40);
    expect(refused).toBeGreaterThan(5);
  });

  it('more pairs in one chunk than --max-keys: a clear coded error from the worker', () => {
    const rows: Row[] = [
      ['a', 'x', 100, 1],
      ...['w', 'x', 'y', 'z'].map((i): Row => ['b', i, 100, 1]),
      ['c', 'x', 100, 1],
    ];
    const { lines } = file(rows);
    expect(() => parseChunk(Buffer.from(lines.join('')), spec({ maxKeys: 5 }))).toThrow(
      expect.objectContaining({
        code: 'E_TOO_MANY_KEYS',
        message: expect.stringMatching(/item pairs in one chunk/),
      }),
    );
    expect(() => parseChunk(Buffer.from(lines.join('')), spec({ maxKeys: 6 }))).not.toThrow();
  });
});
