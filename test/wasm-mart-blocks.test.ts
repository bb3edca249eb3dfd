// Marts encoded inside WASM (asm/mart-blocks.ts) against the JS encoder (CellTable.encode): the
// same chunk through both paths gives byte-identical keyed-cell blocks, and the fallbacks (JS rows
// reaching a mart, a scale raise, amounts past 2^53) stay exact.
import { describe, expect, it } from 'vitest';
import { CellBlock } from '../src/aggregate/keyed-cells.js';
import type { ChunkOutcome } from '../src/aggregate/partial.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { lastWasmScan, parseChunkWasm } from '../src/worker/wasm-parse.js';
import { shape } from './helpers/outcome.js';
import { Rng } from './helpers/prng.js';
import { starSpec } from './helpers/specs.js';

/** Both paths over the same bytes: identical outcomes. Returns how many marts WASM encoded itself. */
function same(text: string, spec: ScanSpec = starSpec()): { js: ChunkOutcome; encoded: number } {
  const buf = Buffer.from(text);
  const js = parseChunk(buf, spec);
  const wasm = parseChunkWasm(buf, spec);
  const encoded = lastWasmScan.martsEncoded;
  expect(shape(wasm)).toEqual(shape(js));
  return { js, encoded };
}

const date = (rng: Rng, years = [2019, 2024]) =>
  `${rng.int(years[0], years[1])}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;

function line(key: string, d: string, price: string, qty: number): string {
  return `${key},S1,${d},SP1,${price},${qty},0\n`;
}

const money = (rng: Rng, big: boolean) =>
  big
    ? `${rng.int(0, 9_999_999_999)}.${String(rng.int(0, 99)).padStart(2, '0')}`
    : `${rng.int(0, 999)}.${String(rng.int(0, 99)).padStart(2, '0')}`;

/** Keys that stress the byte order: shared prefixes of every length, UTF-8, lengths 0 to 40, long runs of one prefix. */
function keyPool(rng: Rng, n: number): string[] {
  const stems = [
    '',
    'C',
    'C0',
    'CUST-000000',
    'é',
    'Ωmega',
    '日本',
    'ÿ',
    'a\u0000'.slice(0, 1),
    'zzzzzzzzzzzzzzzzzzzzzzzz',
  ];
  const out = new Set<string>();
  while (out.size < n) {
    const stem = rng.pick(stems);
    const tail = rng.chance(0.5) ? String(rng.int(0, 99_999)) : String(rng.int(0, 9)).repeat(rng.int(0, 16));
    const k = `${stem}${tail}${rng.chance(0.1) ? rng.pick(['~', ' x', 'ü', '\u007f']) : ''}`;
    out.add(k.slice(0, 40));
  }
  return [...out];
}

describe('marts encoded inside WASM vs the JS encoder: identical bytes', () => {
  it('agrees on random chunks with many keys sharing prefixes, UTF-8 keys and amounts past 2^32', () => {
    const rng = new Rng(1010);
    let encodedChunks = 0;
    for (let d = 0; d < 30; d++) {
      const keys = keyPool(rng, rng.int(1, 3000));
      let text = '';
      const rows = rng.int(1, 4000);
      for (let i = 0; i < rows; i++) {
        // Units past 2^31 too: a quantity up to 2^34 with a price under 1,000.
        const huge = rng.chance(0.05);
        const qty = huge ? rng.int(2 ** 31, 2 ** 34) : rng.int(0, 500);
        text += line(rng.pick(keys), date(rng), money(rng, !huge && rng.chance(0.2)), qty);
      }
      const { js, encoded } = same(text);
      encodedChunks += encoded;
      // Every block holds at most 2048 cells, and the chunk's blocks carry every row.
      let cellRows = 0;
      for (const b of js.cells[0].blocks) {
        const block = new CellBlock(b);
        expect(block.nCells).toBeLessThanOrEqual(2048);
        for (let c = 0; c < block.nCells; c++) cellRows += block.rows[c];
      }
      expect(cellRows).toBe(rows);
    }
    expect(encodedChunks).toBe(30);
  });

  it('agrees on thousands of keys that share a 30-byte prefix (the sort recurses) and keys differing by trailing bytes', () => {
    const rng = new Rng(77);
    const prefix = 'customer-with-a-long-prefix-00';
    let text = '';
    for (let i = 0; i < 5000; i++) {
      const n = rng.int(0, 2000);
      text += line(`${prefix}${n}`, date(rng), money(rng, false), 1);
      text += line(`${prefix}${n}${'0'.repeat(rng.int(0, 12))}`, date(rng), money(rng, false), 2);
    }
    expect(same(text).encoded).toBe(1);
  });

  it('leaves keys sharing more than 1,024 leading bytes to the JS encoder, exactly', () => {
    const rng = new Rng(1024);
    const long = 'x'.repeat(1100);
    let text = '';
    for (let i = 0; i < 200; i++) text += line(`${long}${rng.int(0, 60)}`, date(rng), '1.00', 1);
    expect(same(text).encoded).toBe(0);
    // Shared prefixes under the bound are sorted in WASM.
    expect(same(text.replaceAll(long, 'x'.repeat(900))).encoded).toBe(1);
  });

  it('splits one key with over 2,048 months across blocks, re-entering the key, with more keys around it', () => {
    let text = '';
    for (let y = 1900; y < 2200; y++)
      for (let m = 1; m <= 12; m++) text += line('many', `${y}-${String(m).padStart(2, '0')}-15`, '1.25', 3);
    const rng = new Rng(5);
    for (let i = 0; i < 3000; i++) text += line(`k${rng.int(0, 999)}`, date(rng, [1900, 2199]), '2.00', 1);
    for (let i = 0; i < 100; i++) text += line('', date(rng), '3.00', 1); // an empty key
    const { js, encoded } = same(text);
    expect(encoded).toBe(1);
    const blocks = js.cells[0].blocks.map((b) => new CellBlock(b));
    expect(blocks.length).toBeGreaterThan(2);
    const names = (b: CellBlock) =>
      Array.from({ length: b.nKeys }, (_, k) =>
        Buffer.from(b.keys.subarray(b.keyOffset[k], b.keyOffset[k + 1])).toString(),
      );
    // "many" (3,600 months) straddles blocks: entered again first in each block after its first.
    const withMany = blocks.map(names).filter((n) => n.includes('many'));
    expect(withMany.length).toBeGreaterThanOrEqual(2);
    for (const n of withMany.slice(1)) expect(n[0]).toBe('many');
    expect(names(blocks[0])[0]).toBe('');
  });

  it('encodes sums up to 2^53 itself and leaves wider ones to the JS encoder, exactly', () => {
    // 2^49 cents × 8 is 2^52 (the most a row counted in WASM holds): two rows make 2^53 in one cell.
    const p = '5629499534213.12';
    const at53 =
      line('a', '2024-01-01', p, 8) + line('a', '2024-01-02', p, 8) + line('b', '2024-01-01', '1.00', 1);
    expect(same(at53).encoded).toBe(1);
    const past = at53 + line('a', '2024-01-03', '0.01', 1);
    const { js, encoded } = same(past);
    expect(encoded).toBe(0);
    const block = new CellBlock(js.cells[0].blocks[0]);
    expect(block.revenueBig(0)).toBe(2n ** 53n + 1n);
  });

  it('encodes in WASM when JS rows in the chunk were all rejected, and falls back when one reached the mart', () => {
    const rng = new Rng(9);
    let text = '';
    for (let i = 0; i < 3000; i++) text += line(`c${rng.int(0, 2000)}`, date(rng), money(rng, false), 2);
    const rejected = `${text}c1,S1,2023-02-30,SP1,1.00,1,0\nc2,S1,2024-01-01\nc3,S1,2024-01-01,SP1,n/a,1,0\n${text}`;
    const r = same(rejected);
    expect(r.encoded).toBe(1);
    expect(r.js.rejects.length).toBe(3);
    // A negative price and a quoted key with a doubled quote: rows JS counts, so JS encodes the mart.
    expect(same(`${text}c5,S1,2024-01-01,SP1,-4.50,2,0\n`).encoded).toBe(0);
    expect(same(`${text}"c""6",S1,2024-01-01,SP1,4.50,2,0\n`).encoded).toBe(0);
    // A row with more decimals raises the chunk's scale.
    const raised = same(`${text}c7,S1,2024-01-01,SP1,4.505,2,0\n`);
    expect(raised.encoded).toBe(0);
    expect(raised.js.agg.scale).toBe(3);
  });

  it('agrees on a chunk of more lines than the tables are made for up front (they grow)', () => {
    const rng = new Rng(262);
    const rows: string[] = [];
    // 300,000 distinct keys in scrambled order: both the key table and the cell table grow.
    for (let i = 0; i < 300_000; i++)
      rows.push(`c${(i * 7919) % 300_000},S,2024-0${rng.int(1, 9)}-01,P,1.5,1,0`);
    const { js, encoded } = same(`${rows.join('\n')}\n`);
    expect(encoded).toBe(1);
    expect(js.cells[0].blocks.length).toBeGreaterThan(100);
  }, 60_000);

  it('agrees with two marts and a dimension, one mart on a low-cardinality column', () => {
    const rng = new Rng(31);
    let text = '';
    for (let i = 0; i < 8000; i++)
      text += `c${rng.int(0, 5000)},S${rng.int(1, 9)},${date(rng)},SP${rng.int(1, 40)},${money(rng, rng.chance(0.05))},${rng.int(1, 9)},0\n`;
    const spec = starSpec({
      dimensions: [{ name: 'store_id', index: 1 }],
      marts: [
        { name: 'customer_id', index: 0 },
        { name: 'sales_person_id', index: 3 },
      ],
    });
    expect(same(text, spec).encoded).toBe(2);
    // No rows: both marts encoded as runs without blocks, as JS encodes them.
    expect(same('', spec).encoded).toBe(2);
  });
});
