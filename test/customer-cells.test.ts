// The worker's per-customer cells (integer-keyed pairs, lookups skipped for repeated fields) must
// encode byte-identically to the first implementation (composite byte keys, every lookup per row),
// kept in test/helpers/customer-cells-v1.ts: the coordinator, spill and merge rely on the bytes.
import { describe, expect, it } from 'vitest';
import type { KeyedRun } from '../src/aggregate/keyed-cells.js';
import { parseColumnOptions } from '../src/config-columns.js';
import { detectLayout } from '../src/coordinator/layout.js';
import { TooManyKeysError } from '../src/errors.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { CustomerCells } from '../src/worker/customer-cells.js';
import { KeySet } from '../src/worker/key-table.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { ESCAPED, Fields, fieldText, PLAIN } from '../src/worker/tokenizer.js';
import { CustomerCellsV1 } from './helpers/customer-cells-v1.js';
import { Rng } from './helpers/prng.js';

const CUSTOMER = 0;
const ORDER = 1;
const CATEGORY = 2;

function spec(order: boolean, category: boolean, maxKeys = 1_000_000): ScanSpec {
  return {
    delimiter: 0x2c,
    fieldCount: 3,
    price: -1,
    quantity: -1,
    revenue: -1,
    date: -1,
    dateFormat: null,
    decimalComma: false,
    scale: 2,
    dimensions: [],
    maxKeys,
    names: [],
    customer: CUSTOMER,
    ...(order ? { order: ORDER } : {}),
    ...(category ? { category: CATEGORY } : {}),
  };
}

interface Row {
  /** Raw field bytes as the tokenizer leaves them (doubled quotes kept when escaped), and flags. */
  raw: Uint8Array[];
  flag: number[];
  month: number;
  dom: number;
  qty: number;
  rev: number;
  revBig: bigint | null;
  /** A scale raise of this many decimals before the row (0: none). */
  upscale: number;
}

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const ODD_IDS: Uint8Array[] = [
  enc(''),
  enc('a'),
  enc('ab'),
  new Uint8Array([0x61, 0x00, 0x62]), // NUL inside a customer id
  new Uint8Array([0x61, 0xef, 0xbf, 0xbd, 0x62]), // what that NUL becomes
  new Uint8Array([0xff, 0x61]), // not UTF-8
  new Uint8Array([0xfe, 0x61]), // not UTF-8, the same repaired key
  new Uint8Array([0x61, 0xe2, 0x82]), // a cut-off sequence
  enc('é'),
  enc('Ünïcödé #7'),
];

function field(rng: Rng, pool: Uint8Array[]): [Uint8Array, number] {
  const bytes = pool[rng.int(0, pool.length - 1)];
  if (!rng.chance(0.1)) return [bytes, PLAIN];
  // The same text quoted with doubled quotes: `x"y` is held as `x""y`, flagged ESCAPED.
  const out: number[] = [];
  for (const b of [...bytes, 0x22]) {
    out.push(b);
    if (b === 0x22) out.push(0x22);
  }
  return [new Uint8Array(out), ESCAPED];
}

function rows(seed: number, n: number, big: boolean): Row[] {
  const rng = new Rng(seed);
  const customers = [...ODD_IDS, ...Array.from({ length: 300 }, (_, i) => enc(`C${i * 7919}`))];
  const categories = [
    ...ODD_IDS.slice(0, 8),
    ...['Home', 'Pets', 'Toys', 'Garden', 'Books', 'Food & Drink', 'X'].map(enc),
  ];
  const out: Row[] = [];
  let order = 0;
  while (out.length < n) {
    // An order: one customer, contiguous lines (sometimes an earlier order id again).
    const [cust, custFlag] = field(rng, customers);
    const id = rng.chance(0.1) ? rng.int(0, order) : ++order;
    const orderBytes = rng.chance(0.05) ? ODD_IDS[rng.int(0, ODD_IDS.length - 1)] : enc(`O${id}`);
    const month = rng.chance(0.05) ? -1 : rng.int(0, 3599);
    const dom = rng.int(1, 28);
    const lines = rng.int(1, 6);
    for (let l = 0; l < lines && out.length < n; l++) {
      const [cat, catFlag] = field(rng, categories);
      const huge = big && rng.chance(0.02);
      out.push({
        raw: [cust, orderBytes, cat],
        flag: [custFlag, rng.chance(0.05) ? ESCAPED : PLAIN, catFlag],
        month: rng.chance(0.3) ? rng.int(0, 3599) : month,
        dom,
        qty: huge ? 2 ** 52 - rng.int(0, 5) : rng.int(-3, 20),
        rev: huge ? 2 ** 52 - rng.int(0, 5) : rng.int(-500, 100_000),
        revBig: big && rng.chance(0.01) ? 10n ** 20n + BigInt(rng.int(0, 1000)) : null,
        upscale: big && rng.chance(0.002) ? rng.int(1, 2) : 0,
      });
    }
  }
  return out;
}

interface Cells {
  add(
    buf: Uint8Array,
    fields: Fields,
    month: number,
    dom: number,
    qty: number,
    rev: number,
    revBig: bigint | null,
  ): void;
  upscale(k: number): void;
  runs(scale: number): KeyedRun[];
}

/**
 * `feed` with the customer slots of a mart key table on the customer column, looked up the way
 * keyed-sums.ts's slotOf does (escaped keys unescaped to text first).
 */
function feedShared(s: ScanSpec, input: Row[], drop = (_: Row) => false): KeyedRun[] {
  const mart = new KeySet('customer_id', s.maxKeys);
  const cells = new CustomerCells(s, mart);
  const slotOf = (buf: Uint8Array, fields: Fields) => {
    const [b, e] = [fields.start[CUSTOMER], fields.end[CUSTOMER]];
    if (fields.flag[CUSTOMER] !== ESCAPED) return mart.slot(buf, b, e);
    const key = Buffer.from(fieldText(buf, b, e, ESCAPED), 'utf8');
    return mart.slot(key, 0, key.length);
  };
  const kept = input.filter((r) => !drop(r));
  return feed(
    {
      add: (buf, fields, ...rest) => cells.add(buf, fields, ...rest, slotOf(buf, fields)),
      upscale: (k) => cells.upscale(k),
      runs: (scale) => cells.runs(scale, mart.sortedSlots()),
    },
    kept,
  );
}

/** Feeds the rows, each in its own buffer place as a chunk holds them, and encodes. */
function feed(cells: Cells, input: Row[]): KeyedRun[] {
  const total = input.reduce((a, r) => a + r.raw.reduce((b, f) => b + f.length + 1, 0), 0);
  const buf = new Uint8Array(total);
  const fields = new Fields(3);
  let at = 0;
  let scale = 2;
  for (const r of input) {
    if (r.upscale > 0) {
      cells.upscale(r.upscale);
      scale += r.upscale;
    }
    for (let f = 0; f < 3; f++) {
      buf.set(r.raw[f], at);
      fields.start[f] = at;
      fields.end[f] = at + r.raw[f].length;
      fields.flag[f] = r.flag[f];
      at += r.raw[f].length + 1;
    }
    cells.add(buf, fields, r.month, r.dom, r.qty, r.rev, r.revBig);
  }
  return cells.runs(scale);
}

function same(a: KeyedRun[], b: KeyedRun[]): void {
  expect(a.map((r) => [r.kind, r.name])).toEqual(b.map((r) => [r.kind, r.name]));
  for (let i = 0; i < a.length; i++) {
    expect(a[i].blocks.length).toBe(b[i].blocks.length);
    for (let k = 0; k < a[i].blocks.length; k++)
      expect(
        Buffer.compare(Buffer.from(a[i].blocks[k]), Buffer.from(b[i].blocks[k])),
        `${a[i].name} block ${k}`,
      ).toBe(0);
  }
}

describe('customer cells', () => {
  for (const [order, category] of [
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ]) {
    for (const seed of [1, 2, 3]) {
      it(`encode the same bytes as the first implementation (order ${order}, category ${category}, seed ${seed})`, () => {
        const input = rows(seed, 20_000, seed !== 1);
        const s = spec(order, category);
        same(feed(new CustomerCells(s), input), feed(new CustomerCellsV1(s), input));
      });
    }
  }

  it('encode the same bytes chunk after chunk (tables reused from the pools)', () => {
    const s = spec(true, true);
    for (const seed of [11, 12, 13, 14]) {
      const input = rows(seed, 3_000 * (seed - 10), true);
      same(feed(new CustomerCells(s), input), feed(new CustomerCellsV1(s), input));
    }
  });

  it('encode the same bytes with the customer slots of a mart on the same column', () => {
    const hasNul = (r: Row) => r.raw[CUSTOMER].includes(0);
    for (const seed of [21, 22]) {
      const input = rows(seed, 20_000, seed === 22);
      for (const [order, category] of [
        [true, true],
        [false, false],
      ]) {
        const s = spec(order, category);
        // with ids holding a NUL (the chunk stops sharing there) and without (shared to the end)
        expect(input.some(hasNul)).toBe(true);
        same(feedShared(s, input), feed(new CustomerCellsV1(s), input));
        same(
          feedShared(s, input, hasNul),
          feed(
            new CustomerCellsV1(s),
            input.filter((r) => !hasNul(r)),
          ),
        );
      }
    }
  });

  it('refuse the same number of distinct orders and categories as before', () => {
    for (const [order, category] of [
      [true, false],
      [false, true],
    ]) {
      // One customer, so the cap is met by its orders or categories, not by customers.
      const input = rows(5, 400, false).map((r) => ({
        ...r,
        raw: [enc('c'), r.raw[1], r.raw[2]],
        flag: [PLAIN, ...r.flag.slice(1)],
      }));
      const s = spec(order, category, 10);
      const message = (cells: Cells) => {
        try {
          feed(cells, input);
        } catch (err) {
          expect(err).toBeInstanceOf(TooManyKeysError);
          return (err as Error).message;
        }
        return 'no error';
      };
      const expected = message(new CustomerCellsV1(s));
      expect(expected).toMatch(
        order ? /column "orders" has more than 10/ : /column "categories" has more than 10/,
      );
      expect(message(new CustomerCells(s))).toBe(expected);
    }
  });
});

describe('customer cells in a chunk', () => {
  it('are the same bytes with and without a mart on the customer column', () => {
    const rng = new Rng(31);
    const ids = ['C1', 'C22', '"C""3"', 'Ünï', 'a\u0000b', 'a\uFFFDb', 'C1', '""', '"x,y"'];
    const lines = ['customer_id,order_id,category,sales_date,price,quantity,total_cost'];
    for (let i = 0; i < 3_000; i++) {
      // the NUL customer only in the second half: the chunk shares the mart's slots until then
      const pool = i < 1_500 ? ids.filter((c) => !c.includes('\u0000')) : ids;
      const id = rng.chance(0.7) ? pool[rng.int(0, pool.length - 1)] : `C${rng.int(100, 900)}`;
      const day = String(rng.int(1, 28)).padStart(2, '0');
      lines.push(
        `${id},O${i >> 1},${['Home', 'Toys'][i % 2]},2024-0${rng.int(1, 9)}-${day},1.00,${rng.int(1, 5)},${rng.int(1, 999)}.${rng.int(10, 99)}`,
      );
    }
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    const layout = (mart: string[]) =>
      detectLayout({ bytes, complete: true, path: 'mem.csv' }, parseColumnOptions({ mart }));
    const plain = layout([]);
    const withMart = layout(['customer_id']);
    expect(withMart.spec.customer).toBe(0);
    expect(withMart.spec.marts?.map((m) => m.index)).toEqual([0]);
    const body = bytes.subarray(plain.dataStart);
    const custOf = (buf: Uint8Array, spec: ScanSpec) =>
      parseChunk(buf, spec).cells.filter((r) => r.kind === 'cust');
    expect(parseChunk(body, withMart.spec).agg.rows).toBe(3_000);
    const a = custOf(body, plain.spec);
    const b = custOf(body, withMart.spec);
    expect(a.map((r) => r.name)).toEqual(['days', 'orders', 'categories', 'category-totals']);
    same(b, a);
    // and the rows before the NUL customer alone (shared to the chunk's end)
    const half = Buffer.from(`${lines.slice(1, 1_501).join('\n')}\n`);
    same(custOf(half, withMart.spec), custOf(half, plain.spec));
  });
});
