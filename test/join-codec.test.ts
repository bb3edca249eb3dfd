/**
 * `--join` tables: the wire codec against hand-built bytes, its limits, the worker's assembly of
 * parts split at every size, the lookup, and joined dimensions/marts plus unmatched-key runs out
 * of parseChunk checked against a plain-JS join of the same rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as csvParse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { JoinOption } from '../src/config-columns.js';
import { parseJoinOption } from '../src/config-columns.js';
import { applyJoins, loadJoin } from '../src/coordinator/join-load.js';
import {
  decodeJoinTable,
  encodeJoinTable,
  type JoinTableData,
  splitParts,
  unmatchedRunName,
} from '../src/protocol/join-codec.js';
import { asToWorker, decodeMessage, encodeMessage } from '../src/protocol/messages.js';
import { type ScanSpec, validateSpec } from '../src/scan-spec.js';
import { JoinAssembler, JoinTable } from '../src/worker/join-table.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { cellsOf } from './helpers/keyed.js';
import { Rng } from './helpers/prng.js';

const enc = (s: string) => Buffer.from(s, 'utf8');

/** A table from plain rows: [key, ...attrs]. */
function table(name: string, keyColumn: string, attrs: string[], rows: string[][]): JoinTableData {
  const col = (list: string[]) => {
    const offsets = new Uint32Array(list.length + 1);
    list.forEach((v, i) => {
      offsets[i + 1] = offsets[i] + enc(v).length;
    });
    return { bytes: Buffer.concat(list.map(enc)), offsets };
  };
  const dicts = attrs.map((_, a) => [...new Set(rows.map((r) => r[a + 1]))]);
  return {
    name,
    keyColumn,
    attrs,
    keys: col(rows.map((r) => r[0])),
    values: dicts.map(col),
    ids: dicts.map((d, a) => Uint32Array.from(rows.map((r) => d.indexOf(r[a + 1])))),
  };
}

/** The layout of join-codec.ts written out by hand, word by word. */
function handBuilt(): Buffer {
  const words: number[] = [];
  const out: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    out.push(b);
    words.push(v);
  };
  const bytes = (s: string) => {
    const b = enc(s);
    out.push(b, Buffer.alloc((4 - (b.length % 4)) % 4));
  };
  u32(0x314a4753); // "SGJ1"
  u32(2); // rows
  u32(1); // attributes
  u32(80); // total length
  for (const s of ['t', 'id', 'city']) {
    u32(enc(s).length);
    bytes(s);
  }
  for (const o of [0, 1, 3]) u32(o); // keys "1", "22"
  bytes('122');
  u32(1); // one distinct city
  for (const o of [0, 1]) u32(o);
  bytes('A');
  u32(0);
  u32(0);
  return Buffer.concat(out);
}

const plainOf = (t: JoinTableData) => ({
  ...t,
  keys: { bytes: Buffer.from(t.keys.bytes), offsets: [...t.keys.offsets] },
  values: t.values.map((v) => ({ bytes: Buffer.from(v.bytes), offsets: [...v.offsets] })),
  ids: t.ids.map((i) => [...i]),
});

describe('join codec', () => {
  const small = table(
    't',
    'id',
    ['city'],
    [
      ['1', 'A'],
      ['22', 'A'],
    ],
  );

  it('encodes to the hand-built bytes and decodes them back', () => {
    const hand = handBuilt();
    expect(hand.length).toBe(80);
    expect(Buffer.from(encodeJoinTable(small)).equals(hand)).toBe(true);
    expect(plainOf(decodeJoinTable(hand, 1 << 20))).toEqual(plainOf(small));
  });

  it('round-trips random tables with multi-byte text, empty values and no attributes', () => {
    const rng = new Rng(5);
    for (let round = 0; round < 30; round++) {
      const attrs = Array.from({ length: rng.int(0, 4) }, (_, a) => `col ${a} ü`);
      const n = rng.int(0, 200);
      const rows = Array.from({ length: n }, (_, r) => [
        `k${r}-${'é'.repeat(rng.int(0, 3))}`,
        ...attrs.map(() => (rng.int(0, 5) === 0 ? '' : `v${rng.int(0, 7)}→`)),
      ]);
      const t = table(`name${round}`, 'key', attrs, rows);
      const bytes = encodeJoinTable(t);
      expect(plainOf(decodeJoinTable(bytes, bytes.length))).toEqual(plainOf(t));
    }
  });

  it('refuses what is over the limit or malformed, with a coded error', () => {
    const hand = handBuilt();
    const bad = (mut: (b: Buffer) => void, max = 1 << 20) => {
      const b = Buffer.from(hand);
      mut(b);
      try {
        decodeJoinTable(b, max);
      } catch (err) {
        expect((err as { code: string }).code).toBe('E_PROTOCOL');
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad(() => {}, 79)).toMatch(/over the 79-byte limit/);
    expect(bad((b) => b.writeUInt32LE(0, 0))).toMatch(/magic/);
    expect(bad((b) => b.writeUInt32LE(84, 12))).toMatch(/total length/);
    expect(bad((b) => b.writeUInt32LE(5, 40))).toMatch(/key offsets/); // offsets 0,1,3 → 0,5,3
    expect(bad((b) => b.writeUInt32LE(1, 72))).toMatch(/value id/);
    expect(bad((b) => b.writeUInt32LE(2 ** 27, 4))).toMatch(/rows/);
    expect(bad((b) => (b[52] = 0xff))).toMatch(/UTF-8/); // the key bytes "122"
    expect(() => decodeJoinTable(hand.subarray(0, 76), 1 << 20)).toThrow(/total length|truncated/);
  });

  it('the worker finds duplicate keys and looks keys up by bytes', () => {
    const dup = encodeJoinTable(table('d', 'id', [], [['7'], ['8'], ['7']]));
    expect(() => new JoinTable(decodeJoinTable(dup, 1 << 20))).toThrow(/duplicate key in d/);
    const rows = Array.from({ length: 5000 }, (_, r) => [`id-${r}`, `city ${r % 17}`]);
    const t = new JoinTable(decodeJoinTable(encodeJoinTable(table('c', 'id', ['city'], rows)), 1 << 24));
    for (const r of [0, 1, 2500, 4999]) expect(t.lookup(enc(`id-${r}`), 0, enc(`id-${r}`).length)).toBe(r);
    const probe = enc('xid-5000x');
    expect(t.lookup(probe, 1, probe.length - 1)).toBe(-1);
    expect(t.lookup(probe, 1, 5)).toBe(5); // "id-5", read in place
  });

  it('assembles tables from parts cut at any size, and rejects parts out of order', () => {
    const a = table(
      'a',
      'id',
      ['x'],
      [
        ['1', 'one'],
        ['2', 'two'],
      ],
    );
    const b = table('b', 'k', [], [['z']]);
    const ea = encodeJoinTable(a);
    const eb = encodeJoinTable(b);
    const refs = [
      { name: 'a', index: 0, bytes: ea.length, attrs: 1 },
      { name: 'b', index: 1, bytes: eb.length, attrs: 0 },
    ];
    for (const size of [1, 3, 4, 7, 64, 1 << 20]) {
      const asm = new JoinAssembler(refs, 1 << 20);
      for (const [name, bytes] of [
        ['a', ea],
        ['b', eb],
      ] as const) {
        splitParts(bytes, size).forEach((part, seq) => {
          expect(asm.tables).toBeNull();
          // Through the real message codec, as on the wire.
          const msg = asToWorker(decodeMessage(encodeMessage({ type: 'join', name, seq, data: part })));
          if (msg.type !== 'join') throw new Error('not a join frame');
          asm.add(msg.name, msg.seq, msg.data);
        });
      }
      expect(asm.tables?.map((t) => t.data.name)).toEqual(['a', 'b']);
    }
    const asm = new JoinAssembler(refs, 1 << 20);
    expect(() => asm.add('b', 0, eb)).toThrow(/unexpected join frame/);
    expect(new JoinAssembler([], 1).tables).toEqual([]);
    expect(() => new JoinAssembler(refs, 8).add('a', 0, ea)).toThrow(/size limit/);
  });
});

describe('joined columns in parseChunk', () => {
  const header = ['store_id', 'city_raw', 'price', 'quantity'];
  const storeRows = [
    ['1', 'Seattle', 'West'],
    ['2', 'Austin', 'South'],
    ['3', 'Seattle', 'West'],
    ['4', 'Boston', 'East'],
  ];
  const stores = new JoinTable(
    decodeJoinTable(encodeJoinTable(table('stores', 'store_id', ['city', 'region'], storeRows)), 1 << 20),
  );
  const spec: ScanSpec = validateSpec({
    delimiter: 0x2c,
    fieldCount: 4,
    price: 2,
    quantity: 3,
    revenue: -1,
    date: -1,
    dateFormat: null,
    decimalComma: false,
    scale: 2,
    dimensions: [
      { name: 'store_id.city', index: 0, join: 0, attr: 0 },
      { name: 'store_id', index: 0 },
    ],
    marts: [{ name: 'store_id.region', index: 0, join: 0, attr: 1 }],
    maxKeys: 1000,
    names: header,
    joins: [{ name: 'stores', index: 0, bytes: 0, attrs: 2 }],
  });

  it('sums by joined attribute, counts no-match rows under "(no match)" and tallies unmatched keys', () => {
    const rng = new Rng(11);
    const lines: string[] = [];
    const want = new Map<string, [number, bigint]>();
    const region = new Map<string, number>();
    const unmatched = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = String(rng.int(1, 7)); // 5, 6, 7 have no store
      const quoted = rng.int(0, 10) === 0;
      const cents = BigInt(rng.int(1, 100000));
      const qty = rng.int(1, 5);
      lines.push(
        `${quoted ? `"${id}"` : id},x,${cents / 100n}.${String(cents % 100n).padStart(2, '0')},${qty}`,
      );
      const row = storeRows.find((r) => r[0] === id);
      const city = row?.[1] ?? '(no match)';
      const c = want.get(city) ?? [0, 0n];
      want.set(city, [c[0] + 1, c[1] + cents * BigInt(qty)]);
      region.set(row?.[2] ?? '(no match)', (region.get(row?.[2] ?? '(no match)') ?? 0) + 1);
      if (row === undefined) unmatched.set(id, (unmatched.get(id) ?? 0) + 1);
    }
    lines.push('9,bad,notanumber,1'); // rejected: never probed
    const out = parseChunk(Buffer.from(`${lines.join('\n')}\n`), spec, undefined, [stores]);
    expect(out.agg.rows).toBe(3000);
    const cities = cellsOf(out.cells, 'dim', 'store_id.city', out.agg.scale);
    expect(new Map([...cities].map(([k, c]) => [k, [c.rows, c.revenue]]))).toEqual(want);
    const regions = cellsOf(out.cells, 'mart', 'store_id.region', out.agg.scale);
    expect(new Map([...regions].map(([k, c]) => [k.split('|')[0], c.rows]))).toEqual(region);
    const miss = cellsOf(out.cells, 'dim', unmatchedRunName('stores'), out.agg.scale);
    expect(new Map([...miss].map(([k, c]) => [k, c.rows]))).toEqual(unmatched);
    // The plain column is untouched by the join.
    expect(cellsOf(out.cells, 'dim', 'store_id', out.agg.scale).size).toBe(7);
  });

  it('a spec naming a join or attribute that does not exist is refused', () => {
    expect(() => validateSpec({ ...spec, dimensions: [{ name: 'x', index: 0, join: 1, attr: 0 }] })).toThrow(
      /bad scan spec/,
    );
    expect(() => validateSpec({ ...spec, dimensions: [{ name: 'x', index: 0, join: 0, attr: 2 }] })).toThrow(
      /bad scan spec/,
    );
    expect(() => validateSpec({ ...spec, dimensions: [{ name: 'x', index: 1, join: 0, attr: 0 }] })).toThrow(
      /bad scan spec/,
    );
  });
});

describe('loading a --join file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-join-'));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const opt = (file: string, key = 'store_id'): JoinOption => parseJoinOption(`${file}:${key}`);

  it('parses FILE:KEY and FILE:FACT=DIM, named by the base name', () => {
    expect(parseJoinOption('/x/stores.csv:store_id')).toEqual({
      file: '/x/stores.csv',
      factColumn: 'store_id',
      keyColumn: 'store_id',
      name: 'stores',
    });
    expect(parseJoinOption('/x/a:b/team.v2.csv:sales_person_id=id')).toMatchObject({
      file: '/x/a:b/team.v2.csv',
      factColumn: 'sales_person_id',
      keyColumn: 'id',
      name: 'team.v2',
    });
    for (const bad of ['stores.csv', ':id', 'stores.csv:', 'a.csv:x=y=z', 'a.csv:x='])
      expect(() => parseJoinOption(bad)).toThrow(/--join must be FILE:KEY/);
  });

  it('loads a table, picks the first text column as the label, and resolves joined columns', () => {
    const file = write(
      'stores.csv',
      '\ufeffstore_id;code;city;region\n1;10;Seattle;West\n2;20;"Austin";South\n',
    );
    const l = loadJoin(opt(file), 1 << 20);
    expect(l.data.attrs).toEqual(['code', 'city', 'region']);
    expect(l.label).toBe(1);
    const base = validateSpec({
      delimiter: 0x2c,
      fieldCount: 2,
      price: 1,
      quantity: -1,
      revenue: -1,
      date: -1,
      dateFormat: null,
      decimalComma: false,
      scale: 2,
      dimensions: [],
      maxKeys: 10,
      names: ['', ''],
    });
    const { spec } = applyJoins(base, ['Store_ID', 'price'], [l], {
      dimensions: ['store_id.CITY'],
      marts: ['store_id.region'],
    });
    expect(spec.joins).toEqual([{ name: 'stores', index: 0, bytes: l.encoded.length, attrs: 3 }]);
    expect(spec.dimensions).toEqual([{ name: 'Store_ID.city', index: 0, join: 0, attr: 1 }]);
    expect(spec.marts).toEqual([{ name: 'Store_ID.region', index: 0, join: 0, attr: 2 }]);
    expect(() => validateSpec(spec)).not.toThrow();
    expect(() => applyJoins(base, ['shop', 'price'], [l], {})).toThrow(/fact file has no column "store_id"/);
    expect(() => applyJoins(base, ['store_id', 'price'], [l], { dimensions: ['store_id.town'] })).toThrow(
      /has no column "town"/,
    );
  });

  it('loads every row and value as csv-parse reads them (quotes, doubled quotes, UTF-8, CRLF)', () => {
    const rng = new Rng(3);
    const word = () =>
      rng.pick(['Seattle', 'São Paulo', 'a,b', 'say "hi"', '', ' x ', '東京', 'line\nbreak']);
    const quote = (v: string) => (/[",\n]/.test(v) || rng.chance(0.2) ? `"${v.replaceAll('"', '""')}"` : v);
    const rows = Array.from({ length: 3000 }, (_, r) => [
      `k${r}${rng.pick(['', 'é', '"q"'])}`,
      word(),
      word(),
    ]);
    const text = `id,city,"note, long"\r\n${rows.map((r) => r.map(quote).join(',')).join('\r\n')}\r\n`;
    const file = write('q.csv', text);
    const l = loadJoin(opt(file, 'id'), 1 << 24);
    const want = csvParse(fs.readFileSync(file), { columns: false }) as string[][];
    expect(want.slice(1)).toEqual(rows);
    const t = decodeJoinTable(l.encoded, 1 << 24);
    expect(t.attrs).toEqual(['city', 'note, long']);
    const str = (c: { bytes: Uint8Array; offsets: Uint32Array }, v: number) =>
      Buffer.from(c.bytes.subarray(c.offsets[v], c.offsets[v + 1])).toString('utf8');
    const got = Array.from({ length: t.keys.offsets.length - 1 }, (_, r) => [
      str(t.keys, r),
      ...t.values.map((c, a) => str(c, t.ids[a][r])),
    ]);
    expect(got).toEqual(rows);
    expect(l.label).toBe(0);
  });

  it('refuses duplicate keys, a missing key column, bad CSV, empty keys and files over the cap', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return [
          (err as { code: string }).code,
          (err as { exitCode: number }).exitCode,
          (err as Error).message,
        ];
      }
      return null;
    };
    const dup = codeOf(() => loadJoin(opt(write('d.csv', 'store_id,city\n1,A\n2,B\n1,C\n')), 1 << 20));
    expect(dup).toEqual(['E_JOIN', 2, expect.stringMatching(/key "1" appears twice \(lines 2 and 4\)/)]);
    const missing = codeOf(() => loadJoin(opt(write('m.csv', 'id,city\n1,A\n')), 1 << 20));
    expect(missing?.[2]).toMatch(/no key column "store_id"; its columns are: id, city/);
    const ragged = codeOf(() => loadJoin(opt(write('r.csv', 'store_id,city\n1,A,extra\n')), 1 << 20));
    expect(ragged?.[2]).toMatch(/not a well-formed CSV/);
    const empty = codeOf(() => loadJoin(opt(write('e.csv', 'store_id,city\n,A\n')), 1 << 20));
    expect(empty?.[2]).toMatch(/line 2 has an empty key/);
    const big = codeOf(() => loadJoin(opt(write('b.csv', 'store_id,city\n1,A\n')), 10));
    expect(big).toEqual(['E_JOIN_TOO_LARGE', 2, expect.stringMatching(/over the 10-byte cap/)]);
  });
});
