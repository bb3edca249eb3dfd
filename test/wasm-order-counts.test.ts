/**
 * Whole orders counted inside WASM (asm/baskets.ts): while a chunk's order ids ascend, the orders
 * between its first and last one are counted there and never reach the JS collector. For any
 * chunk the outcome must equal the JS path's byte for byte (`--parse js`), and chunked runs must
 * give the self-join's counts: orders cut at every boundary, ids that do not ascend (WASM gives up
 * and parses again), rejected rows and rows without an id inside orders, an item twice in one
 * order, single-item orders, orders of 256 lines or more, scale raises, and more items than
 * --basket-items and than WASM's 1,024 item slots.
 */
import { describe, expect, it } from 'vitest';
import type { ChunkOutcome } from '../src/aggregate/partial.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { lastWasmScan, parseChunkWasm } from '../src/worker/wasm-parse.js';
import { asReference, countRuns, normalized, referenceBaskets } from './helpers/baskets.js';
import { shape } from './helpers/outcome.js';
import { Rng } from './helpers/prng.js';
import { basketSpec as spec } from './helpers/specs.js';

/** A counted line's order, item and value in cents, or null for a line that is not counted. */
type Line = { text: string; ref: [string, string, bigint] | null };

interface Options {
  orders: number;
  items: string[];
  /** Rate of rows WASM leaves to JS (rejected, quoted with a doubled quote, a raised scale). */
  odd?: number;
  /** Rate of rows without an order id. */
  noId?: number;
  /** An order of this many lines somewhere (256 or more: left to JS). */
  long?: number;
  /** Earlier ids that appear again later (ids that do not ascend). */
  repeats?: number;
}

function row(rng: Rng, order: string, item: string, odd: number): Line {
  let cents = BigInt(rng.int(1, 99_999));
  if (rng.chance(0.01)) cents = rng.pick([4_503_599_627_370_49n, 9_007_199_254_740_99n]);
  const qty = rng.int(1, 4);
  const price = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  const date = `2024-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
  const ref = (v: bigint | null): Line['ref'] => (v === null ? null : [order, item, v]);
  if (rng.chance(odd)) {
    switch (rng.int(0, 3)) {
      case 0:
        return { text: `${order},${item},n/a,${qty},${date},north`, ref: null };
      case 1:
        return { text: `${order},${item},${price},${qty},2024-02-30,north`, ref: null };
      case 2:
        // Three decimals: JS counts the row and raises the chunk's scale (values ×10 in the runs).
        return { text: `${order},${item},${price}5,${qty},${date},north`, ref: null };
      default:
        return { text: `${order},"${item} ""x""",${price},${qty},${date},north`, ref: null };
    }
  }
  return {
    text: `${order},${item},${price},${qty},${date},${rng.pick(['north', 'south'])}`,
    ref: ref(cents * BigInt(qty)),
  };
}

/** Ascending ids (crossing a digit count), orders of 1 to 7 lines with repeated items. */
function file(rng: Rng, o: Options): Line[] {
  let id = 900;
  const ids = Array.from({ length: o.orders }, () => String((id += rng.int(1, 3))));
  const out: Line[] = [];
  const longAt = o.long ? rng.int(1, o.orders - 2) : -1;
  for (let k = 0; k < o.orders; k++) {
    const n = k === longAt ? (o.long as number) : rng.pick([1, 1, 2, 3, 4, 5, 7]);
    const basket = Array.from({ length: rng.int(1, 4) }, () => rng.pick(o.items));
    for (let l = 0; l < n; l++) {
      if (rng.chance(o.noId ?? 0)) out.push(row(rng, '', rng.pick(o.items), 0));
      const item = rng.chance(0.03) ? '' : rng.pick(basket);
      out.push(row(rng, ids[k], item, o.odd ?? 0));
    }
  }
  for (let r = 0; r < (o.repeats ?? 0); r++) {
    const at = rng.int(Math.floor(out.length / 2), out.length);
    out.splice(at, 0, row(rng, ids[rng.int(0, Math.floor(o.orders / 3))], rng.pick(o.items), 0));
  }
  return out;
}

/** The counted lines as the self-join takes them. */
function refRows(ls: Line[]): [string, string, bigint][] {
  return ls.flatMap((l) => (l.ref === null ? [] : [l.ref]));
}

const text = (ls: Line[]) => Buffer.from(ls.map((l) => `${l.text}\n`).join(''));

/** Both paths on the same bytes: identical outcomes. Returns the WASM one and its orders counted in WASM. */
function same(buf: Uint8Array, s: ScanSpec): [ChunkOutcome, number] {
  const js = parseChunk(buf, s);
  const wasm = parseChunkWasm(buf, s);
  const inWasm = lastWasmScan.ordersInWasm;
  expect(shape(wasm)).toEqual(shape(js));
  return [wasm, inWasm];
}

/** Chunked WASM runs against the self-join, values compared at scale 2. */
function expectReference(outs: ChunkOutcome[], ls: Line[], k = 1000): void {
  const scale = Math.max(...outs.map((o) => o.agg.scale));
  const got = asReference(
    countRuns(
      outs.map((o) => o.cells),
      scale,
      k,
    ),
  );
  expect({ ...got, value: got.value / 10n ** BigInt(scale - 2) }).toEqual(
    normalized(referenceBaskets(refRows(ls))),
  );
}

const FEW = ['milk', 'bread', 'tea', 'jam', 'Ωmega 日本', 'a-much-longer-item-name-past-32-bytes-#1'];

describe('whole orders counted in WASM', () => {
  it('equal the JS path and the self-join with the file cut at every line', () => {
    const rng = new Rng(1501);
    const ls = file(rng, { orders: 160, items: FEW });
    let counted = 0;
    for (let cut = 0; cut <= ls.length; cut++) {
      const a = ls.slice(0, cut);
      const b = ls.slice(cut);
      const outs: ChunkOutcome[] = [];
      for (const part of [a, b]) {
        if (part.length === 0) continue;
        const [out, inWasm] = same(text(part), spec());
        counted += inWasm > 0 ? 1 : 0;
        outs.push(out);
      }
      expectReference(outs, ls);
    }
    // One side of every cut has at least 80 orders: WASM counts most of them.
    expect(counted).toBeGreaterThan(ls.length);
  });

  it('equal the JS path on messy files: rejects and ids missing inside orders, scale raises, long orders, ids that do not ascend', () => {
    const rng = new Rng(1502);
    let counted = 0;
    let redone = 0;
    for (let f = 0; f < 120; f++) {
      const o: Options = {
        orders: rng.int(40, 400),
        items: FEW,
        odd: rng.pick([0, 0.002, 0.02, 0.1]),
        noId: rng.pick([0, 0, 0.01]),
        long: rng.chance(0.3) ? rng.pick([255, 256, 300]) : undefined,
        repeats: rng.chance(0.25) ? rng.int(1, 3) : 0,
      };
      const ls = file(rng, o);
      const s = spec({
        scale: rng.pick([2, 2, 3]),
        dimensions: rng.chance(0.5)
          ? [
              { name: 'region', index: 5 },
              { name: 'item', index: 1 },
            ]
          : [{ name: 'region', index: 5 }],
        marts: rng.chance(0.3) ? [{ name: 'region', index: 5 }] : undefined,
      });
      const [, inWasm] = same(text(ls), s);
      if (inWasm > 0) counted++;
      if (inWasm === 0 && o.repeats) redone++;
      const cut = rng.int(0, ls.length);
      same(text(ls.slice(0, cut)), s);
      same(text(ls.slice(cut)), s);
    }
    expect(counted).toBeGreaterThan(40);
    expect(redone).toBeGreaterThan(5);
  });

  it('an item twice in one order counts once; single-item orders; an order of 256 lines is left to JS', () => {
    const lines: string[] = [];
    for (let o = 1; o <= 100; o++) {
      if (o % 3 === 0) lines.push(`${o},tea,1.00,1,2024-01-01,n`);
      else if (o === 50)
        for (let l = 0; l < 256; l++) lines.push(`${o},${l % 2 ? 'milk' : 'jam'},1.00,1,2024-01-01,n`);
      else
        lines.push(
          `${o},milk,1.20,1,2024-01-01,n`,
          `${o},bread,2.50,2,2024-01-01,n`,
          `${o},milk,1.20,3,2024-01-01,n`,
        );
    }
    const buf = Buffer.from(`${lines.join('\n')}\n`);
    for (const s of [spec(), spec({ dimensions: [{ name: 'item', index: 1 }] })]) {
      const [out, inWasm] = same(buf, s);
      // All but the first, the last and the long one.
      expect(inWasm).toBe(97);
      const got = asReference(countRuns([out.cells], out.agg.scale, 1000));
      expect(got.orders).toBe(100);
      expect(got.items).toEqual(
        new Map([
          ['bread', 66],
          ['jam', 1],
          ['milk', 67],
          ['tea', 33],
        ]),
      );
      expect(got.pairs).toEqual(
        new Map([
          ['bread\0milk', 66],
          ['jam\0milk', 1],
        ]),
      );
      expect(got.linesHist.get(1)).toBe(33);
      expect(got.linesHist.get(3)).toBe(66);
      expect(got.linesHist.get(256)).toBe(1);
      expect(got.itemsHist.get(1)).toBe(33);
      expect(got.itemsHist.get(2)).toBe(67);
    }
  });

  it('more items than --basket-items and than its 1,024 slots: WASM counts the orders it can, JS the rest', () => {
    const rng = new Rng(1503);
    const products = Array.from({ length: 1500 }, (_, k) => `Product #${k}`);
    const ls = file(rng, { orders: 3000, items: products });
    const cuts = [0, rng.int(1, ls.length - 1), ls.length].sort((a, b) => a - b);
    for (const s of [spec(), spec({ dimensions: [{ name: 'item', index: 1 }] })]) {
      const wasm: ChunkOutcome[] = [];
      const js: ChunkOutcome[] = [];
      let inWasm = 0;
      for (let c = 0; c + 1 < cuts.length; c++) {
        const buf = text(ls.slice(cuts[c], cuts[c + 1]));
        const [out, n] = same(buf, s);
        wasm.push(out);
        js.push(parseChunk(buf, s));
        inWasm += n;
      }
      expect(inWasm).toBeGreaterThan(500);
      expect(inWasm).toBeLessThan(2900);
      expectReference(wasm, ls, 2000);
      // Pairs kept among the 20 most supported items: both paths' chunks give the same end.
      const end = (outs: ChunkOutcome[]) =>
        asReference(
          countRuns(
            outs.map((o) => o.cells),
            2,
            20,
          ),
        );
      expect(end(wasm)).toEqual(end(js));
    }
  });

  it('ids that stop ascending only at a JS row, and item bytes that are one item to JS: parsed again, same outcome', () => {
    const lines: string[] = [];
    for (let o = 100; o < 300; o++)
      lines.push(`${o},milk,1.20,1,2024-01-01,n`, `${o},tea,2.00,1,2024-01-01,n`);
    // A row JS counts (three decimals) with an earlier id, between two orders WASM would count.
    const back = [...lines];
    back.splice(201, 0, '120,jam,1.005,1,2024-01-01,n');
    const [, inWasm] = same(Buffer.from(`${back.join('\n')}\n`), spec());
    expect(inWasm).toBe(0);
    // Two invalid UTF-8 items: distinct keys to WASM, one replacement-character key to the collector.
    const bad = lines.map((l, k) => (k % 2 === 0 ? l : l.replace('tea', k % 4 === 1 ? '\xff' : '\xfe')));
    const buf = Buffer.from(`${bad.join('\n')}\n`, 'latin1');
    const [, badInWasm] = same(buf, spec());
    expect(badInWasm).toBe(0);
    // The same file with valid items is counted in WASM.
    expect(same(Buffer.from(`${lines.join('\n')}\n`), spec())[1]).toBe(198);
  });

  it('long ids compare as bytes past their first eight: ascending counted, one step back parsed again', () => {
    const id = (o: number) => `INV-2024-${String(o).padStart(9, '0')}`;
    const lines = (ids: number[]) =>
      Buffer.from(
        ids
          .flatMap((o) => [`${id(o)},milk,1.20,1,2024-01-01,n`, `${id(o)},tea,2.00,1,2024-01-01,n`])
          .join('\n'),
      );
    const up = Array.from({ length: 200 }, (_, k) => 1000 + k * 37);
    expect(same(lines(up), spec())[1]).toBe(198);
    for (const at of [50, 120]) {
      const back = [...up];
      // One id smaller than the one before it, differing from it only in its last bytes.
      back[at] = back[at - 1] - 1;
      expect(same(lines(back), spec())[1]).toBe(0);
    }
  });

  it('--orders-scattered counts nothing in WASM', () => {
    const rng = new Rng(1504);
    const ls = file(rng, { orders: 200, items: FEW });
    const [, inWasm] = same(text(ls), spec({ shipAllOrders: true }));
    expect(inWasm).toBe(0);
  });
});
