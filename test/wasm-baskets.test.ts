/**
 * Baskets on the WASM parse path: for any chunk, the WASM path (its counted rows' order and item
 * records fed between the ranges it leaves to JS) gives the JS path's basket runs byte for byte,
 * and chunked WASM runs give the self-join's counts.
 */
import { describe, expect, it } from 'vitest';
import type { ChunkOutcome } from '../src/aggregate/partial.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { BASKET_KIND } from '../src/worker/basket-runs.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { chooseParser, lastWasmScan, parseChunkWasm, wasmIneligible } from '../src/worker/wasm-parse.js';
import { syntheticChunk, warmBaskets } from '../src/worker/wasm-warm.js';
import { asReference, countRuns, normalized, referenceBaskets } from './helpers/baskets.js';
import { shape } from './helpers/outcome.js';
import { Rng } from './helpers/prng.js';
import { basketSpec as spec } from './helpers/specs.js';

/** Both paths on the same bytes: identical outcomes, basket runs included. Returns the WASM one. */
function same(buf: Uint8Array, s: ScanSpec, countOrders = true): ChunkOutcome {
  const js = parseChunk(buf, s);
  const wasm = parseChunkWasm(buf, s, undefined, countOrders);
  expect(shape(wasm)).toEqual(shape(js));
  return wasm;
}

const ITEMS = [
  'milk',
  'bread',
  'tea',
  'jam, "best"',
  'Ωmega 日本',
  'x',
  'a-much-longer-item-name-past-32-bytes-#1',
];
/** Items WASM takes whole (no doubled quote). */
const CLEAN_ITEMS = ITEMS.filter((i) => !i.includes('"'));
const q = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

type Line = { text: string; order: string; item: string; cents: bigint | null };

/** A file's lines: orders of 1 to 6 lines (repeated items too), with odd rows at rate `odd`. */
function lines(
  rng: Rng,
  orders: number,
  odd: number,
  scattered: boolean,
  raise = true,
  items = ITEMS,
): Line[] {
  const out: Line[] = [];
  const numeric = rng.chance(0.5);
  const id = (o: number) => (numeric ? String(1000 + o * 7) : `ord-${(o * 7919) % 10007}`);
  for (let o = 0; o < orders; o++) {
    const n = rng.pick([1, 1, 2, 3, 4, 6]);
    for (let l = 0; l < n; l++) out.push(good(rng, id(o), odd, raise, items));
  }
  if (scattered)
    for (let s = 0; s < 4; s++)
      out.splice(rng.int(0, out.length), 0, good(rng, id(rng.int(0, orders - 1)), odd, raise, items));
  return out;
}

function good(rng: Rng, order: string, odd: number, raise: boolean, items: string[]): Line {
  const item = rng.chance(0.03) ? '' : rng.pick(items);
  let cents = BigInt(rng.int(1, 99_999));
  let price = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  const qty = rng.int(1, 5);
  if (rng.chance(0.01)) {
    // Within the WASM number path, or just past it (JS's bigint path).
    cents = rng.pick([4_503_599_627_370_49n, 9_007_199_254_740_99n]);
    price = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  }
  let value: bigint | null = cents * BigInt(qty);
  let orderText = rng.chance(0.1) ? `"${order}"` : order;
  let itemText = rng.chance(0.1) && !/[",]/.test(item) ? `"${item}"` : q(item);
  let date = `2024-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
  let fields: string[] | null = null;
  if (rng.chance(odd)) {
    switch (rng.int(0, 7)) {
      case 0:
        price = 'n/a';
        value = null;
        break;
      case 1:
        date = '2024-02-30';
        value = null;
        break;
      case 2:
        // More decimals than the scale: JS takes the row and raises the scale.
        if (raise) {
          price = `${price}5`;
          value = null;
        }
        break;
      case 3:
        fields = [orderText, itemText, price];
        value = null;
        break;
      case 4:
        orderText = '';
        order = '';
        break;
      case 5:
        // A doubled quote: WASM leaves the rest of the chunk to JS.
        itemText = '"tea ""green"""';
        return {
          text: [orderText, itemText, price, String(qty), date, 'north'].join(','),
          order,
          item: 'tea "green"',
          cents: value,
        };
      case 6:
        return { text: '', order, item, cents: null };
      default:
        orderText = `"${order}"`;
    }
  }
  const row = fields ?? [
    orderText,
    itemText,
    price,
    String(qty),
    date,
    rng.pick(['north', 'south', '"east"']),
  ];
  return { text: row.join(','), order, item, cents: value };
}

function join(ls: Line[], rng: Rng): string {
  const crlf = rng.chance(0.2);
  return ls.map((l) => l.text + (crlf ? '\r\n' : '\n')).join('');
}

function randomSpec(rng: Rng): ScanSpec {
  const itemDim = rng.chance(0.5);
  return spec({
    scale: rng.pick([2, 2, 3]),
    dimensions: itemDim
      ? [
          { name: 'region', index: 5 },
          { name: 'item', index: 1 },
        ]
      : [{ name: 'region', index: 5 }],
    marts: rng.chance(0.3) ? [{ name: 'region', index: 5 }] : undefined,
    shipAllOrders: rng.chance(0.2) ? true : undefined,
  });
}

describe('baskets on the WASM parse path', () => {
  it('is chosen by auto for basket runs, with the item in a dimension or a table of its own', () => {
    expect(wasmIneligible(spec())).toBeNull();
    expect(chooseParser(spec(), 'auto')).toBe('wasm');
    expect(chooseParser(spec({ shipAllOrders: true }), 'auto')).toBe('wasm');
    const dims = Array.from({ length: 16 }, (_, i) => ({ name: `d${i}`, index: i % 6 }));
    // Sixteen dimensions leave no table for an item column that is not one of them.
    expect(
      wasmIneligible(spec({ dimensions: dims.map((d) => ({ ...d, index: d.index === 1 ? 0 : d.index })) })),
    ).toMatch(/basket items/);
    expect(wasmIneligible(spec({ dimensions: dims }))).toBeNull();
  });

  it('clean files: WASM counts every row itself and its basket runs equal the JS ones', () => {
    const rng = new Rng(1401);
    for (let d = 0; d < 30; d++) {
      const ls = lines(rng, rng.int(1, 200), 0, rng.chance(0.3), false, CLEAN_ITEMS);
      const buf = Buffer.from(join(ls, rng));
      const s = randomSpec(rng);
      const out = same(buf, s);
      // Only a value past 2^52 at the scale goes to JS (its bigint path).
      if (!buf.includes('9007199254740')) expect(lastWasmScan.fallbacks).toBe(0);
      expect(lastWasmScan.rows).toBeGreaterThan(0);
      expect(out.cells.some((r) => r.kind === BASKET_KIND)).toBe(true);
    }
  });

  it('messy files cut anywhere: rejects inside orders, quoted and escaped fields, scale raises, big values', () => {
    const rng = new Rng(1402);
    let mixed = 0;
    for (let d = 0; d < 150; d++) {
      const ls = lines(rng, rng.int(1, 120), rng.pick([0.01, 0.05, 0.2, 0.6]), rng.chance(0.3));
      const text = Buffer.from(join(ls, rng));
      const s = randomSpec(rng);
      same(text, s);
      if (lastWasmScan.rows > 0 && lastWasmScan.fallbacks > 1) mixed++;
      // Chunks cut at random lines, and a chunk cut mid-record.
      const cut = rng.int(0, text.length);
      same(text.subarray(0, cut), s);
      same(text.subarray(cut), s);
    }
    // WASM rows and JS ranges interleaved within one chunk, often.
    expect(mixed).toBeGreaterThan(30);
  });

  it('chunked WASM runs give the self-join counts (contiguous and scattered orders, every boundary)', () => {
    const rng = new Rng(1403);
    for (let round = 0; round < 60; round++) {
      const ls = lines(rng, rng.int(1, 30), rng.pick([0, 0.1]), false, false);
      const ref = ls
        .filter((l) => l.cents !== null && l.text !== '')
        .map((l): [string, string, bigint] => [l.order, l.item, l.cents as bigint]);
      const want = normalized(referenceBaskets(ref));
      const cuts = Array.from({ length: rng.int(0, 5) }, () => rng.int(0, ls.length)).sort((a, b) => a - b);
      const edges = [0, ...cuts, ls.length];
      const s = spec({ scale: 2 });
      const chunks = [];
      let scale = 2;
      for (let c = 0; c + 1 < edges.length; c++) {
        if (edges[c] === edges[c + 1]) continue;
        const out = same(
          Buffer.from(
            ls
              .slice(edges[c], edges[c + 1])
              .map((l) => `${l.text}\n`)
              .join(''),
          ),
          s,
        );
        scale = Math.max(scale, out.agg.scale);
        chunks.push(out.cells);
      }
      const got = asReference(countRuns(chunks, scale, 1000));
      // Values are compared at scale 2 (the reference's cents); a raised scale only adds zeros.
      expect({ ...got, value: got.value / 10n ** BigInt(scale - 2) }, `round ${round}`).toEqual(want);
    }
  });

  it('single-item orders, an item repeated in one order, lines without an order or item', () => {
    const text = [
      '1,milk,1.20,1,2024-01-01,n',
      '1,milk,1.20,2,2024-01-01,n',
      '2,tea,3.99,1,2024-01-02,n',
      ',milk,1.20,1,2024-01-02,n',
      '3,,1.00,1,2024-01-03,n',
      '3,bread,2.50,1,2024-01-03,n',
      '3,milk,x,1,2024-01-03,n',
      '3,milk,1.20,1,2024-01-03,n',
      '4,tea,3.99,1,2024-01-04,n',
      '',
    ].join('\n');
    for (const s of [spec(), spec({ dimensions: [{ name: 'item', index: 1 }] })]) {
      const out = same(Buffer.from(text), s);
      const got = asReference(countRuns([out.cells], out.agg.scale, 1000));
      expect(got.items).toEqual(
        new Map([
          ['bread', 1],
          ['milk', 2],
          ['tea', 2],
        ]),
      );
      expect(got.noOrderLines).toBe(1);
      expect(out.agg.rejected).toBe(1);
    }
  });

  it('more counted rows than the basket region holds: JS takes the rest, outcome unchanged', () => {
    const short = spec({ fieldCount: 4, date: -1, dimensions: [], names: ['o', 'i', 'p', 'q'] });
    let text = '';
    for (let o = 0; o < 3000; o++) text += `${o},${o % 5},1,1\n${o},${(o + 1) % 5},2,1\n`;
    // Orders counted in WASM leave no records behind, so the region fills only without counting.
    same(Buffer.from(text), short);
    expect(lastWasmScan.ordersInWasm).toBeGreaterThan(2900);
    same(Buffer.from(text), short, false);
    expect(lastWasmScan.rest).toBe(true);
    expect(lastWasmScan.rows).toBeGreaterThan(100);
  });

  it('warms on a synthetic chunk of the run layout with orders and items, which WASM counts whole', () => {
    for (const s of [spec(), spec({ dimensions: [{ name: 'item', index: 1 }] })]) {
      const out = same(syntheticChunk(s), s);
      expect(lastWasmScan.fallbacks).toBe(0);
      expect(lastWasmScan.rows).toBe(2000);
      // 400 ascending ids of 5 lines: the chunk sends its id range, its orders counted.
      const got = asReference(countRuns([out.cells], out.agg.scale, 1000));
      expect(got.orders).toBe(400);
    }
    // Best effort: a --max-keys the synthetic chunk exceeds leaves the path cold, without an error.
    expect(() => warmBaskets(spec({ maxKeys: 3 }))).not.toThrow();
  });
});
