import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { ChunkOutcome } from '../src/aggregate/partial.js';
import { parseParseMode } from '../src/config.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import {
  chooseParser,
  instantiate,
  lastWasmScan,
  parseChunkWasm,
  parseChunkWith,
  wasmIneligible,
  wasmUnavailable,
} from '../src/worker/wasm-parse.js';
import { syntheticChunk, WARM_SPEC, warmWasm } from '../src/worker/wasm-warm.js';
import { genDoc } from './helpers/csv-gen.js';
import { dimsOf } from './helpers/keyed.js';
import { shape } from './helpers/outcome.js';
import { Rng } from './helpers/prng.js';

// The reference layout: Region,Country,Item Type,Sales Channel,Order Priority,Order Date,Order ID,
// Ship Date,Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit
const NAMES = [
  'Region',
  '',
  'Item Type',
  'Sales Channel',
  '',
  'Order Date',
  '',
  '',
  'Units Sold',
  'Unit Price',
];
function refSpec(over: Partial<ScanSpec> = {}): ScanSpec {
  return {
    delimiter: 0x2c,
    fieldCount: 14,
    price: 9,
    quantity: 8,
    revenue: -1,
    date: 5,
    dateFormat: 'mdy',
    decimalComma: false,
    scale: 2,
    dimensions: [
      { name: 'Region', index: 0 },
      { name: 'Item Type', index: 2 },
      { name: 'Sales Channel', index: 3 },
    ],
    maxKeys: 1000,
    names: [...NAMES, '', '', '', ''],
    ...over,
  };
}

/** Both paths, forced, over the same bytes (and lookahead): identical outcomes. Returns the JS one. */
function same(buf: Uint8Array, spec: ScanSpec, after?: Uint8Array): ChunkOutcome {
  const look = after === undefined ? undefined : (n: number) => after.subarray(0, n);
  const js = parseChunk(buf, spec, look);
  const wasm = parseChunkWasm(buf, spec, look);
  expect(shape(wasm)).toEqual(shape(js));
  return js;
}

const REGIONS = ['Asia', 'Europe', 'Middle East and North Africa', 'Sub-Saharan Africa', 'Ωmega 日本'];
const ITEMS = ['Fruits', 'Cosmetics', 'Office "Supplies"', 'Baby Food, Organic', 'Snacks'];
const COUNTRIES = ['Chad', 'Peru', 'Côte d’Ivoire', 'Multi\nLine Land', 'Bosnia, Herzegovina'];

function q(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** A reference-layout row; `odd` mixes in what the WASM path must hand to JS. */
function row(rng: Rng, odd: number): string {
  const year = rng.int(1999, 2024);
  const month = rng.int(1, 12);
  let day = rng.int(1, 28);
  if (rng.chance(0.05)) [day] = [29 + rng.int(0, 2)]; // leap days and invalid ends of months
  const f = Array.from({ length: 14 }, () => 'x');
  f[0] = rng.chance(0.2) ? `"${rng.pick(REGIONS)}"` : q(rng.pick(REGIONS));
  f[1] = rng.chance(odd) ? q(rng.pick(COUNTRIES)) : 'Chad';
  f[2] = rng.chance(odd) ? q(rng.pick(ITEMS)) : rng.pick(['Fruits', 'Snacks', '"Cosmetics"']);
  f[3] = rng.pick(['Online', 'Offline']);
  f[5] = rng.chance(0.1) ? `"${month}/${day}/${year}"` : `${month}/${day}/${year}`;
  f[8] = String(rng.chance(0.02) ? rng.pick(['0', '5.0', '5.5', '-3', '', ' 7']) : rng.int(1, 10000));
  const int = String(rng.chance(0.02) ? rng.int(0, 999999999999) : rng.int(0, 99999));
  const dec = rng.chance(odd) ? rng.pick([0, 1, 3, 4, 10]) : 2;
  let frac = '';
  for (let i = 0; i < dec; i++) frac += String(rng.int(0, 9));
  const num = dec === 0 ? int : `${int}.${frac}`;
  f[9] = rng.chance(odd)
    ? rng.pick([`$${num}`, `-${num}`, `"1,234.${frac}"`, ` ${num}`, 'n/a', `${num}.`, `.${frac || '5'}`])
    : rng.chance(0.1)
      ? `"${num}"`
      : num;
  if (rng.chance(odd / 4)) return f.slice(0, rng.int(1, 13)).join(','); // wrong field count
  if (rng.chance(odd / 8)) return '';
  return f.join(',');
}

function doc(rng: Rng, rows: number, odd: number): string {
  const crlf = rng.chance(0.3);
  let out = '';
  for (let i = 0; i < rows; i++) out += row(rng, odd) + (crlf && rng.chance(0.7) ? '\r\n' : '\n');
  return out;
}

describe('WASM parse path vs JS path: identical partials', () => {
  it('is available here (Node 20 runs WASM SIMD without flags)', () => {
    expect(wasmUnavailable()).toBeNull();
  });

  it('agrees on random reference-layout documents from clean to messy, whole and cut anywhere', () => {
    const rng = new Rng(16016);
    for (let d = 0; d < 120; d++) {
      const text = doc(rng, rng.int(1, 300), rng.pick([0, 0.01, 0.1, 0.5]));
      const bytes = Buffer.from(rng.chance(0.2) ? text.replace(/\n$/, '') : text);
      const marts = [
        { name: 'Region', index: 0 },
        { name: 'Country', index: 1 },
      ];
      const spec = refSpec({ scale: rng.pick([0, 2, 2, 4]), marts: rng.chance(0.5) ? marts : undefined });
      same(bytes, spec);
      // A cut at any byte: a record torn in two, a quote left open at the end.
      const cut = rng.int(0, bytes.length);
      same(bytes.subarray(0, cut), spec, bytes.subarray(cut));
      same(bytes.subarray(0, cut), spec);
    }
  });

  it('agrees with one worker CSV corpus of csv-gen fuzz (quotes, "", CRLF, ragged rows) and csv-parse counts records alike', () => {
    const rng = new Rng(777);
    let compared = 0;
    for (let d = 0; d < 600; d++) {
      const g = genDoc(rng, { maxRecords: 40 });
      const buf = Buffer.from(g.text, 'utf8');
      const fieldCount = rng.int(1, 8);
      const col = () => rng.int(-1, fieldCount - 1);
      const price = rng.int(0, fieldCount - 1);
      const spec = refSpec({
        delimiter: g.delimiter.charCodeAt(0),
        fieldCount,
        price,
        quantity: col(),
        date: -1,
        dateFormat: null,
        dimensions: [{ name: 'k', index: rng.int(0, fieldCount - 1) }],
        names: Array.from({ length: fieldCount }, (_, i) => `c${i}`),
      });
      const out = same(buf, spec);
      let records: string[][] | null = null;
      try {
        records = parse(buf, { relax_column_count: true, bom: false, delimiter: g.delimiter });
      } catch {}
      if (records !== null) {
        expect(out.agg.rows + out.agg.rejected).toBe(records.length);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('agrees on numbers that fill every digit and sit at the 2^52 limits', () => {
    const lines = [
      '1/1/2020,A,x,x,x,1/1/2020,x,x,9999,99999999.99,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,1,45035996273704.96,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,1,45035996273704.97,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,2,22517998136852.48,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,2,22517998136852.49,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,999999999999999,1.00,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,1,123456789012345,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,1,1234567890123456,x,x,x,x',
      '1/1/2020,A,x,x,x,1/1/2020,x,x,12345678,12345678.1234567,x,x,x,x',
      '2/29/2000,A,x,x,x,2/29/2000,x,x,00000001,0000000000.10,x,x,x,x',
      '2/29/1900,A,x,x,x,2/29/1900,x,x,1,1,x,x,x,x',
      '12/31/2199,A,x,x,x,12/31/2199 23:59,x,x,1,1,x,x,x,x',
    ];
    const many = Array.from({ length: 3000 }, (_, i) => lines[i % lines.length]).join('\n');
    for (const scale of [0, 2, 7, 9]) {
      same(Buffer.from(`${many}\n`), refSpec({ scale, marts: [{ name: 'Region', index: 0 }] }));
      // The price column read as a line total: no price × quantity check behind the scaling.
      same(Buffer.from(`${many}\n`), refSpec({ scale, price: -1, revenue: 9 }));
    }
  });

  it('agrees on 40 KB records, records longer than its index window, and a key past --max-keys', () => {
    const rng = new Rng(5);
    const long = (n: number) => `${'ab,'.repeat(0)}"${'y'.repeat(n)}"`;
    const base = doc(rng, 50, 0).split('\n');
    base[10] = base[10].replace('Chad', long(40_000));
    base[20] = base[20].replace('Chad', 'z'.repeat(300_000));
    base[30] = base[30].replace('Chad', long(2 * 1024 * 1024)); // past the default quote limit
    same(Buffer.from(base.join('\n')), refSpec());
    // Quoted fields around a small --max-field-bytes: closed within it, or judged by the JS rule.
    const lim = Array.from({ length: 200 }, (_, i) => {
      const v = 'v'.repeat(i % 24);
      return `"${v}",x,"${v}",Online,H,1/1/2020,1,x,1,1.00,x,x,x,x`;
    }).join('\n');
    same(Buffer.from(lim), refSpec({ maxFieldBytes: 12 }));
    const keys = Array.from({ length: 30 }, (_, i) => `${i},x,x,x,x,1/1/2020,x,x,1,1.00,x,x,x,x`).join('\n');
    const spec = refSpec({ maxKeys: 20 });
    expect(() => parseChunk(Buffer.from(keys), spec)).toThrow(/more than 20 distinct/);
    expect(() => parseChunkWasm(Buffer.from(keys), spec)).toThrow(/more than 20 distinct/);
  });

  it('agrees on keys of every length from 0 to 40 bytes sharing prefixes, and on over 1,024 keys (tables grow)', () => {
    const rng = new Rng(40);
    const keys = Array.from({ length: 41 }, (_, n) => 'K'.repeat(n));
    keys.push('Central America and the Caribbean', 'Central America and the Caribbeans', 'a"b', 'Ωmega', '');
    let text = '';
    for (let i = 0; i < 3000; i++) {
      const k = rng.pick(keys);
      text += `${k},x,${rng.chance(0.5) && !k.includes('"') ? `"${k}"` : `k${rng.int(0, 4999)}`},Online,H,1/1/2020,1,x,${rng.int(1, 9)},1.25,x,x,x,x\n`;
    }
    const out = same(Buffer.from(text), refSpec({ maxKeys: 10_000 }));
    expect(lastWasmScan.rows).toBeGreaterThan(1000);
    expect(dimsOf(out).get('Item Type')?.size).toBeGreaterThan(1100); // past the first table of 1,024
  });

  it('agrees on marts with thousands of (key, month) cells (cell tables grow), odd rows mixed in', () => {
    const rng = new Rng(1616);
    let text = '';
    for (let i = 0; i < 20_000; i++) {
      const key = `cust${rng.int(0, 1999)}`;
      const price = rng.chance(0.02) ? `$${rng.int(1, 99)}.5` : `${rng.int(0, 999)}.${rng.int(10, 99)}`;
      const date = rng.chance(0.01)
        ? '2/30/2020'
        : `${rng.int(1, 12)}/${rng.int(1, 28)}/${rng.int(2015, 2019)}`;
      text += `${rng.pick(REGIONS)},${key},Fruits,Online,H,${date},1,x,${rng.int(1, 50)},${price},x,x,x,x\n`;
    }
    const spec = refSpec({
      maxKeys: 5000,
      marts: [
        { name: 'Country', index: 1 },
        { name: 'Region', index: 0 },
      ],
    });
    const out = same(Buffer.from(text), spec);
    expect(lastWasmScan.rows).toBeGreaterThan(19_000);
    expect(out.cells.filter((r) => r.kind === 'mart')).toHaveLength(2);
    // Without a date column every cell has no month.
    same(Buffer.from(text), refSpec({ ...spec, date: -1, dateFormat: null }));
  });

  it('agrees when a chunk holds more than 65,536 fallback ranges (the rest goes to JS as one block)', () => {
    const good = '1/1/2020,A,x,x,x,1/1/2020,x,x,1,1.00,x,x,x,x';
    const bad = '1/1/2020,A,x,x,x,1/1/2020,x,x,1,$1.00,x,x,x,x';
    const text = Array.from({ length: 140_000 }, (_, i) => (i % 2 === 0 ? good : bad)).join('\n');
    const out = same(Buffer.from(`${text}\n`), refSpec());
    expect(out.agg.rows).toBe(140_000);
  });

  it('agrees on other layouts: line totals, no quantity, ymd and dmy dates, decimal commas, tabs', () => {
    const rng = new Rng(99);
    const cases: [string, Partial<ScanSpec>][] = [
      ['2024-02-29T10:00Z;Nord;12,5;3\n2023-02-29;Süd;1.234,50;1\n2024-1-1;Nord;7;2\n', {}],
      ['29.02.2024;Nord;12,50;3\n31.04.2024;Süd;1,5;1\n', { dateFormat: 'dmy' }],
    ];
    for (const [text, over] of cases) {
      same(
        Buffer.from(text),
        refSpec({
          delimiter: 0x3b,
          fieldCount: 4,
          price: 2,
          quantity: 3,
          date: 0,
          dateFormat: 'ymd',
          decimalComma: true,
          dimensions: [{ name: 'r', index: 1 }],
          names: ['d', 'r', 'p', 'q'],
          ...over,
        }),
      );
    }
    let tsv = '';
    for (let i = 0; i < 500; i++)
      tsv += `${rng.int(1, 28)}/${rng.int(1, 12)}/20${rng.int(10, 30)}\tk${rng.int(0, 9)}\t${rng.int(0, 9999)}.${rng.int(10, 99)}${rng.chance(0.05) ? '7' : ''}\n`;
    same(
      Buffer.from(tsv),
      refSpec({
        delimiter: 0x09,
        fieldCount: 3,
        price: -1,
        quantity: -1,
        revenue: 2,
        date: 0,
        dateFormat: 'dmy',
        dimensions: [{ name: 'k', index: 1 }],
        names: ['d', 'k', 't'],
      }),
    );
  });

  it('counts the same rows, money, months and dimensions as a hand check', () => {
    const text =
      'Asia,x,Fruits,Online,H,2/29/2016,1,x,3,1.50,x,x,x,x\r\n' +
      '"Asia",x,"Fruits",Online,H,2/29/2016,1,x,2,"2.25",x,x,x,x\n' +
      'Asia,x,Fruits,Online,H,2/29/2015,1,x,2,2.25,x,x,x,x\n' +
      'Europe,x,Fruits,Online,H,3/1/2016,1,x,1,$10.005,x,x,x,x\n';
    const out = same(Buffer.from(text), refSpec());
    expect(out.agg.rows).toBe(3);
    expect(out.agg.scale).toBe(3);
    expect(out.agg.revenue).toBe(4500n + 4500n + 10005n);
    expect(out.rejects).toEqual([[2, 'Order Date is not a valid date', text.split('\n')[2]]]);
    expect(dimsOf(out).get('Region')?.get('Asia')).toEqual({ rows: 2, units: 5n, revenue: 9000n });
  });
});

describe('choosing a path', () => {
  it('takes only specs whose every field it knows (an allow-list), and honours a forced mode', () => {
    expect(wasmIneligible(refSpec())).toBeNull();
    // Customers without orders or categories are WASM's (test/wasm-customers.test.ts); with them, JS's.
    expect(wasmIneligible({ ...refSpec(), customer: 4 } as ScanSpec)).toBeNull();
    const customers = { ...refSpec(), customer: 4, order: 6 } as ScanSpec;
    expect(wasmIneligible(customers)).toMatch(/orders/);
    expect(wasmIneligible({ ...refSpec(), customer: 4, category: 2 } as ScanSpec)).toMatch(/category/);
    const withMart = refSpec({ marts: [{ name: 'Region', index: 0 }] });
    expect(wasmIneligible(withMart)).toBeNull();
    expect(chooseParser(withMart, 'auto')).toBe('wasm');
    expect(chooseParser(withMart, 'wasm')).toBe('wasm');
    const many = Array.from({ length: 14 }, (_, i) => ({ name: `c${i}`, index: i }));
    expect(wasmIneligible(refSpec({ marts: many }))).toMatch(/more than 16/);
    expect(chooseParser(customers, 'wasm')).toBe('js');
    expect(chooseParser(refSpec(), 'js')).toBe('js');
    expect(chooseParser(refSpec(), 'auto')).toBe('wasm');
    expect(() => parseChunkWasm(Buffer.from('a\n'), customers)).toThrow(/cannot take/);
    const text = Buffer.from(doc(new Rng(3), 50, 0.1));
    expect(shape(parseChunkWith('auto', text, customers))).toEqual(shape(parseChunk(text, customers)));
  });

  it('says why a module cannot run: not WASM, or SIMD code on a runtime without SIMD', () => {
    expect(instantiate(Buffer.from('not wasm'))).toMatch(/cannot run/);
    // A module whose one function holds a SIMD instruction the validator rejects (bad lane index).
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
    const funcs = [0x03, 0x02, 0x01, 0x00];
    const body = [0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x15, 0x20, 0x1a, 0x0b];
    const code = [0x0a, body.length + 3, 0x01, body.length + 1, 0x00, ...body];
    expect(instantiate(new Uint8Array([...header, ...types, ...funcs, ...code]))).toMatch(/cannot run/);
    expect(typeof instantiate(readFileSync(new URL('../dist/wasm/parse.wasm', import.meta.url)))).toBe(
      'object',
    );
  });

  it('reads the mode from --parse, else SALESGRID_PARSE, and names a bad value', () => {
    expect(parseParseMode(undefined, undefined)).toBe('auto');
    expect(parseParseMode(undefined, 'js')).toBe('js');
    expect(parseParseMode('wasm', 'js')).toBe('wasm');
    expect(() => parseParseMode(undefined, 'fast')).toThrow(/SALESGRID_PARSE must be one of auto, wasm, js/);
    expect(() => parseParseMode('simd')).toThrow(/--parse must be one of/);
  });

  it('warms on a synthetic chunk of the run layout that the WASM path counts whole', () => {
    for (const dateFormat of ['mdy', 'dmy', 'ymd'] as const) {
      const spec = refSpec({ dateFormat, scale: 3 });
      const out = same(syntheticChunk(spec, 500), spec);
      expect([out.agg.rows, out.agg.rejected]).toEqual([500, 0]);
    }
    expect(warmWasm(refSpec())).toHaveLength(4);
    expect(warmWasm()).toHaveLength(4);
    const warm = syntheticChunk(WARM_SPEC, 300);
    expect(same(warm, WARM_SPEC).agg.rows).toBe(300);
    expect(lastWasmScan.rows).toBe(300);
  });

  it('counts clean rows itself, quoted ones included, and hands only the odd rows to JS', () => {
    const clean = Buffer.from(doc(new Rng(8), 2000, 0));
    const out = same(clean, refSpec());
    expect(out.agg.rejected + lastWasmScan.fallbacks).toBeLessThan(2000 * 0.12);
    expect(lastWasmScan.rows).toBeGreaterThan(2000 * 0.85);
    expect(lastWasmScan.rest).toBe(false);
    // A quoted field with a line break: JS takes the rest of the chunk from that record.
    const text = `${doc(new Rng(9), 10, 0)}Asia,"Multi\nLine",Fruits,Online,H,1/1/2020,1,x,1,1.00,x,x,x,x\n${doc(new Rng(10), 10, 0)}`;
    const mixed = same(Buffer.from(text), refSpec());
    expect(lastWasmScan.rest).toBe(true);
    expect(lastWasmScan.rows).toBeLessThan(mixed.agg.rows);
  });
});
