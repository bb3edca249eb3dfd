// The customers' `days` run on the WASM path (asm/customers.ts) against the JS path
// (CustomerCells): the same chunk through both gives byte-identical outcomes, keyed-cell runs
// included, whether WASM encodes the run itself or hands its cells back to JS (JS rows that reach
// the customers, a scale raise, sums past 2^53), with and without a mart on the customer column.
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CellBlock, NO_DAY } from '../src/aggregate/keyed-cells.js';
import type { ChunkOutcome } from '../src/aggregate/partial.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { customersIneligible, wasmCustomers } from '../src/worker/customer-wasm.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { chooseParser, lastWasmScan, parseChunkWasm } from '../src/worker/wasm-parse.js';
import { shape } from './helpers/outcome.js';
import { Rng } from './helpers/prng.js';
import { starSpec as martSpec } from './helpers/specs.js';

/** The star layout with customers on customer_id (and its mart, unless `over` says otherwise). */
const starSpec = (over: Partial<ScanSpec> = {}): ScanSpec => martSpec({ customer: 0, ...over });

/** The specs the tests run: the customer mart shared, the customers' own table, a mart on another column too. */
const SPECS: Record<string, ScanSpec> = {
  shared: starSpec(),
  own: starSpec({ marts: [] }),
  'own + store mart': starSpec({
    marts: [{ name: 'store_id', index: 1 }],
    dimensions: [{ name: 'sp', index: 3 }],
  }),
  'shared + second mart': starSpec({
    marts: [
      { name: 'store_id', index: 1 },
      { name: 'customer_id', index: 0 },
    ],
  }),
  'no date column': starSpec({ date: -1, dateFormat: null }),
};

/** Both paths over the same bytes: identical outcomes. Returns whether WASM encoded `days` itself. */
function same(buf: Buffer, spec: ScanSpec): { js: ChunkOutcome; days: boolean } {
  const js = parseChunk(buf, spec);
  const wasm = parseChunkWasm(buf, spec);
  const days = lastWasmScan.daysEncoded;
  expect(shape(wasm)).toEqual(shape(js));
  expect(js.cells.some((r) => r.kind === 'cust' && r.name === 'days')).toBe(true);
  // Well-formed runs, as the coordinator checks them (key order, UTF-8, amounts).
  for (const run of js.cells) for (const b of run.blocks) new CellBlock(b);
  return { js, days };
}

const pad = (n: number) => String(n).padStart(2, '0');
const date = (rng: Rng, years = [2019, 2024]) =>
  `${rng.int(years[0], years[1])}-${pad(rng.int(1, 12))}-${pad(rng.int(1, 28))}`;

function row(key: string | Buffer, d: string, price: string, qty: number | string): Buffer {
  return Buffer.concat([
    Buffer.from(key),
    Buffer.from(`,S${qty === 1 ? 1 : 2},${d},SP1,${price},${qty},0\n`),
  ]);
}

const money = (rng: Rng, big: boolean) =>
  big ? `${rng.int(0, 9_999_999_999)}.${pad(rng.int(0, 99))}` : `${rng.int(0, 999)}.${pad(rng.int(0, 99))}`;

/** Customer ids: shared prefixes, UTF-8, an empty id, and rarely a NUL or invalid UTF-8 (rows JS keys differently). */
function customerPool(rng: Rng, n: number, odd: boolean): (string | Buffer)[] {
  const stems = ['C', 'C0', 'CUST-000000', 'é', 'Ωmega', '日本', '', 'zzzzzzzzzzzzzzzzzzzz'];
  const out = new Set<string>();
  while (out.size < n) out.add(`${rng.pick(stems)}${rng.int(0, 99_999)}`.slice(0, 32));
  const keys: (string | Buffer)[] = [...out];
  if (odd) {
    keys.push(
      'a\u0000b',
      Buffer.from([0x43, 0xff, 0x31]),
      Buffer.from([0xc3]),
      Buffer.from([0xed, 0xa0, 0x80]),
    );
    keys.push('"quoted id"', '"C1"', Buffer.from([0xf0, 0x9f, 0x98, 0x80]));
  }
  return keys;
}

interface FileOptions {
  rows: number;
  keys: number;
  /** NUL, invalid UTF-8 and quoted ids. */
  odd?: boolean;
  /** Rejected rows and rows only JS counts (signs, `$`, a doubled quote). */
  messy?: boolean;
  /** Prices whose row revenue passes 2^52 (JS's bigint path) and cell sums past 2^53. */
  big?: boolean;
  /** Dates from 1900 to 2199 (past 2079-06-05 a day has no u16 slot: NO_DAY). */
  wideDates?: boolean;
}

function file(rng: Rng, o: FileOptions): Buffer {
  const keys = customerPool(rng, o.keys, o.odd === true);
  const parts: Buffer[] = [];
  for (let i = 0; i < o.rows; i++) {
    const d = date(rng, o.wideDates ? [1900, 2199] : [2019, 2024]);
    const huge = o.big === true && rng.chance(0.03);
    // 2^49 cents × 16: past 2^52 in one row (JS), or two rows of 2^52 in one cell (past 2^53).
    const price = huge ? rng.pick(['5629499534213.12', '9007199254740.99']) : money(rng, rng.chance(0.1));
    const qty = huge ? rng.pick([8, 16]) : rng.int(0, 40);
    parts.push(row(rng.pick(keys), d, price, qty));
    if (o.messy && rng.chance(0.02)) {
      parts.push(
        Buffer.from(
          rng.pick([
            'C1,S1,2023-02-30,SP1,1.00,1,0\n',
            'C2,S1,2024-01-01\n',
            'C3,S1,2024-01-01,SP1,n/a,1,0\n',
            'C4,S1,2024-01-01,SP1,-4.50,2,0\n',
            'C5,S1,2024-01-01,SP1,$4.50,2,0\n',
            '"C""6",S1,2024-01-01,SP1,4.50,2,0\n',
            '\n',
          ]),
        ),
      );
    }
  }
  return Buffer.concat(parts);
}

/** The file cut at random line ends, each piece a chunk. */
function chunks(rng: Rng, buf: Buffer, n: number): Buffer[] {
  const ends: number[] = [];
  for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) ends.push(i + 1);
  const cuts = [...new Set(Array.from({ length: n - 1 }, () => rng.pick(ends)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    out.push(buf.subarray(at, c));
    at = c;
  }
  return out;
}

describe('customers on the WASM path vs the JS path: identical outcomes', () => {
  for (const [name, spec] of Object.entries(SPECS)) {
    it(`clean random files, whole and cut anywhere (${name}): WASM encodes days itself`, () => {
      const rng = new Rng(1313);
      for (let f = 0; f < 12; f++) {
        const buf = file(rng, { rows: rng.int(1, 3000), keys: rng.int(1, 1500), wideDates: rng.chance(0.3) });
        expect(same(buf, spec).days).toBe(true);
        for (const c of chunks(rng, buf, rng.int(2, 6))) expect(same(c, spec).days).toBe(true);
      }
    });

    it(`messy random files: odd ids, rejected and JS-only rows, big revenues (${name})`, () => {
      const rng = new Rng(2727);
      let encoded = 0;
      let handedBack = 0;
      for (let f = 0; f < 16; f++) {
        const buf = file(rng, {
          rows: rng.int(1, 2500),
          keys: rng.int(1, 800),
          odd: rng.chance(0.5),
          messy: rng.chance(0.6),
          big: rng.chance(0.4),
          wideDates: rng.chance(0.3),
        });
        for (const c of [buf, ...chunks(rng, buf, rng.int(2, 5))]) {
          if (same(c, spec).days) encoded++;
          else handedBack++;
        }
      }
      // Both ways are exercised.
      expect(encoded).toBeGreaterThan(5);
      expect(handedBack).toBeGreaterThan(5);
    });
  }

  it('keys days past 2079-06-05 and rows without a date column as NO_DAY, and 1900-01-01 as day 0', () => {
    const text = Buffer.concat([
      row('a', '1900-01-01', '1.00', 1),
      row('a', '2079-06-05', '1.00', 1),
      row('a', '2079-06-06', '1.00', 1),
      row('a', '2199-12-31', '1.00', 1),
      row('b', '2024-02-29', '2.00', 3),
    ]);
    const { js, days } = same(text, SPECS.shared);
    expect(days).toBe(true);
    const run = js.cells.find((r) => r.name === 'days');
    const block = new CellBlock((run as { blocks: Uint8Array[] }).blocks[0]);
    expect([...block.month]).toEqual([0, 65534, NO_DAY, 45349]);
    const noDates = same(text, SPECS['no date column']);
    const b2 = new CellBlock(
      (noDates.js.cells.find((r) => r.name === 'days') as { blocks: Uint8Array[] }).blocks[0],
    );
    expect([...b2.month]).toEqual([NO_DAY, NO_DAY]);
  });

  it('hands the cells back to JS for a NUL or invalid UTF-8 id, a JS-only row or a scale raise; encodes when JS rows were all rejected', () => {
    const rng = new Rng(99);
    const base = file(rng, { rows: 2000, keys: 700 });
    for (const spec of [SPECS.shared, SPECS.own]) {
      expect(same(base, spec).days).toBe(true);
      const rejected = Buffer.concat([base, Buffer.from('C1,S1,2023-02-30,SP1,1.00,1,0\nC2,S1,x\n'), base]);
      expect(same(rejected, spec).days).toBe(true);
      for (const odd of [
        row('x\u0000y', '2024-01-01', '1.00', 1),
        row(Buffer.from([0x61, 0xfe]), '2024-01-01', '1.00', 1),
        row('C1', '2024-01-01', '-1.00', 1),
        row('C1', '2024-01-01', '1.005', 1),
      ])
        expect(same(Buffer.concat([base, odd, base]), spec).days).toBe(false);
      // Valid UTF-8 ids stay in WASM, 4-byte sequences included.
      expect(same(Buffer.concat([base, row('😀', '2024-01-01', '1.00', 1)]), spec).days).toBe(true);
    }
  });

  it("keys a row on JS's all-bigint path (a value past 2^52 after a scale raise) by its customer, mart shared or not", () => {
    const rng = new Rng(4);
    const base = file(rng, { rows: 500, keys: 200 });
    const raised = Buffer.concat([
      base,
      row('C9', '2024-01-01', '1.005', 1),
      row('Zed', '2024-01-02', '5629499534213.12', 1),
    ]);
    for (const spec of [SPECS.shared, SPECS.own]) expect(same(raised, spec).days).toBe(false);
  });

  it('encodes sums up to 2^53 itself and hands wider ones back to JS (decimal strings), exactly', () => {
    const p = '5629499534213.12';
    const at53 = Buffer.concat([
      row('a', '2024-01-01', p, 8),
      row('a', '2024-01-01', p, 8),
      row('b', '2024-01-01', '1.00', 1),
    ]);
    expect(same(at53, SPECS.own).days).toBe(true);
    const past = Buffer.concat([at53, row('a', '2024-01-01', '0.01', 1)]);
    const { js, days } = same(past, SPECS.own);
    expect(days).toBe(false);
    const run = js.cells.find((r) => r.name === 'days') as { blocks: Uint8Array[] };
    expect(new CellBlock(run.blocks[0]).revenueBig(0)).toBe(2n ** 53n + 1n);
  });

  it('agrees on a chunk with more customers and days than the tables are made for up front', () => {
    const rows: Buffer[] = [];
    for (let i = 0; i < 200_000; i++)
      rows.push(
        row(`c${(i * 7919) % 150_000}`, `20${10 + (i % 14)}-0${1 + (i % 9)}-${pad(1 + (i % 28))}`, '1.5', 1),
      );
    for (const spec of [SPECS.shared, SPECS.own]) expect(same(Buffer.concat(rows), spec).days).toBe(true);
  }, 60_000);
});

describe('which customers the WASM path takes', () => {
  it('takes the days run alone; a run with an order or category column stays on the JS path', () => {
    expect(customersIneligible(starSpec())).toBeNull();
    expect(customersIneligible(starSpec({ customer: undefined }))).toBeNull();
    expect(chooseParser(starSpec(), 'auto')).toBe('wasm');
    expect(chooseParser(starSpec({ order: 3 }), 'auto')).toBe('js');
    expect(chooseParser(starSpec({ category: 1 }), 'auto')).toBe('js');
    expect(customersIneligible(starSpec({ order: 3 }))).toMatch(/orders/);
    // Baskets without customers stay WASM's.
    expect(chooseParser(starSpec({ customer: undefined, order: 3, item: 1 }), 'auto')).toBe('wasm');
  });

  it("shares the customer mart's key table, else takes one after the dimensions and marts", () => {
    expect(wasmCustomers(SPECS.shared)).toEqual({ col: 0, table: 0, own: false });
    expect(wasmCustomers(SPECS['shared + second mart'])).toEqual({ col: 0, table: 1, own: false });
    expect(wasmCustomers(SPECS['own + store mart'])).toEqual({ col: 0, table: 2, own: true });
    expect(wasmCustomers(starSpec({ customer: undefined }))).toBeNull();
    const many = Array.from({ length: 15 }, (_, i) => ({ name: `c${i}`, index: 1 + (i % 6) }));
    expect(chooseParser(starSpec({ marts: many }), 'auto')).toBe('wasm');
    expect(chooseParser(starSpec({ marts: [...many, { name: 'x', index: 6 }] }), 'auto')).toBe('js');
  });
});

describe('mart keys on the WASM path', () => {
  it("takes exactly the keys Node's isUtf8 accepts (random bytes around every UTF-8 boundary), as JS keys them", () => {
    const rng = new Rng(8);
    const bytes = [
      0x41, 0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee,
      0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
    ];
    const rows: Buffer[] = [];
    let valid = 0;
    let validNul = 0;
    for (let i = 0; i < 6000; i++) {
      const key = Buffer.from(Array.from({ length: rng.int(1, 12) }, () => rng.pick(bytes)));
      if (isUtf8(key) && !key.includes(0)) valid++;
      else if (isUtf8(key)) validNul++;
      rows.push(row(key, date(rng), '1.00', 1));
    }
    // Valid multi-byte keys too, so WASM takes a share of the rows itself.
    for (let i = 0; i < 3000; i++)
      rows.push(row(rng.pick(['é', '€', '😀', '\u07ff', '\uffff', '\u{10ffff}']), date(rng), '1.00', 1));
    const text = Buffer.concat(rows);
    for (const spec of [starSpec({ customer: undefined }), SPECS.shared, SPECS.own]) {
      expect(shape(parseChunkWasm(text, spec))).toEqual(shape(parseChunk(text, spec)));
      // WASM counts every row whose key is valid UTF-8 (without a NUL where it is a customer id).
      expect(lastWasmScan.rows).toBe(3000 + valid + (spec.customer === undefined ? validNul : 0));
    }
  });

  it('leaves a row whose mart key is invalid UTF-8 to JS (which keys it with U+FFFD)', () => {
    const spec = starSpec({ customer: undefined });
    const text = Buffer.concat([
      row(Buffer.from([0x41, 0xff, 0xc3]), '2020-01-02', '1.00', 1),
      row('B', '2020-01-02', '1.00', 1),
    ]);
    expect(shape(parseChunkWasm(text, spec))).toEqual(shape(parseChunk(text, spec)));
  });
});
