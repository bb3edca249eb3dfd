/** Keyed-cell blocks: bytes built by hand, round trips, validation, and the sort keys of merged amounts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CellBlock, KeyedCellsWriter, NO_MONTH, validateRun } from '../src/aggregate/keyed-cells.js';
import { toSortKey } from '../src/db/sort-key.js';
import { ProtocolError } from '../src/errors.js';

/** Little-endian words written with arithmetic, independent of the codec's DataView writes. */
function u32(n: number): number[] {
  const v = n < 0 ? n + 2 ** 32 : n;
  return [
    v % 256,
    Math.floor(v / 2 ** 8) % 256,
    Math.floor(v / 2 ** 16) % 256,
    Math.floor(v / 2 ** 24) % 256,
  ];
}
function u16(n: number): number[] {
  return [n % 256, Math.floor(n / 256)];
}
function pad(bytes: number[]): number[] {
  while (bytes.length % 4 !== 0) bytes.push(0);
  return bytes;
}
function utf8(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

interface HandCell {
  key: number;
  month: number;
  rows: number;
  units: number | bigint;
  revenue: number | bigint;
}

/** The block layout of keyed-cells.ts, written out from its description. */
function handBlock(scale: number, keys: string[], cells: HandCell[]): Uint8Array {
  const keyBytes: number[] = [];
  const offsets = [0];
  for (const k of keys) {
    keyBytes.push(...utf8(k));
    offsets.push(keyBytes.length);
  }
  const words = (v: number | bigint) => {
    if (typeof v === 'bigint') return [0, 0];
    const hi = Math.floor(v / 2 ** 32);
    return [v - hi * 2 ** 32, hi];
  };
  const wide: number[] = [];
  cells.forEach((c, i) => {
    for (const [field, v] of [
      [0, c.units],
      [1, c.revenue],
    ] as const) {
      if (typeof v !== 'bigint') continue;
      const d = v.toString();
      wide.push(...u32(i), field, d.length, ...utf8(d));
    }
  });
  const out = [
    0x53,
    0x47,
    0x4b,
    0x31, // "SGK1"
    scale,
    0,
    0,
    0,
    ...u32(keys.length),
    ...u32(cells.length),
    ...u32(keyBytes.length),
    ...u32(wide.length),
  ];
  for (const o of offsets) out.push(...u32(o));
  out.push(...pad([...keyBytes]));
  for (const c of cells) out.push(...u32(c.key));
  for (const c of cells) out.push(...u32(c.rows));
  for (const c of cells) out.push(...u32(words(c.units)[0]));
  for (const c of cells) out.push(...u32(words(c.units)[1]));
  for (const c of cells) out.push(...u32(words(c.revenue)[0]));
  for (const c of cells) out.push(...u32(words(c.revenue)[1]));
  const months: number[] = [];
  for (const c of cells) months.push(...u16(c.month));
  out.push(...pad(months));
  out.push(...pad(wide));
  return Uint8Array.from(out);
}

function readBack(b: CellBlock) {
  const out: [string, number, number, string, string][] = [];
  for (let c = 0; c < b.nCells; c++) {
    out.push([
      b.keyText(b.cellKey[c]),
      b.month[c],
      b.rows[c],
      b.unitsBig(c).toString(),
      b.revenueBig(c).toString(),
    ]);
  }
  return out;
}

const SAMPLE: HandCell[] = [
  { key: 0, month: 1476, rows: 2, units: 7, revenue: 123456 },
  { key: 0, month: 1477, rows: 1, units: -3, revenue: -(2 ** 40) - 5 },
  { key: 1, month: NO_MONTH, rows: 4, units: 2 ** 53, revenue: 10n ** 30n },
  { key: 2, month: 0, rows: 1, units: -(10n ** 25n), revenue: 0 },
];
const SAMPLE_KEYS = ['Ab', 'Ab"c', 'Côte d’Ivoire'];

describe('keyed cells: hand-built bytes', () => {
  it('the writer produces exactly the bytes of the documented layout', () => {
    const w = new KeyedCellsWriter(4);
    for (let k = 0; k < SAMPLE_KEYS.length; k++) {
      const key = Buffer.from(SAMPLE_KEYS[k]);
      w.key(key, 0, key.length);
      for (const c of SAMPLE.filter((x) => x.key === k)) {
        if (typeof c.units === 'bigint' || typeof c.revenue === 'bigint')
          w.cellBig(c.month, c.rows, BigInt(c.units), BigInt(c.revenue));
        else w.cell(c.month, c.rows, c.units, c.revenue);
      }
    }
    const blocks = w.finish();
    expect(blocks).toHaveLength(1);
    expect([...blocks[0]]).toEqual([...handBlock(4, SAMPLE_KEYS, SAMPLE)]);
  });

  it('a hand-built block decodes to its cells, wide values exact', () => {
    const b = new CellBlock(handBlock(4, SAMPLE_KEYS, SAMPLE));
    expect(b.scale).toBe(4);
    expect(readBack(b)).toEqual([
      ['Ab', 1476, 2, '7', '123456'],
      ['Ab', 1477, 1, '-3', String(-(2 ** 40) - 5)],
      ['Ab"c', NO_MONTH, 4, String(2 ** 53), (10n ** 30n).toString()],
      ['Côte d’Ivoire', 0, 1, (-(10n ** 25n)).toString(), '0'],
    ]);
    expect(Number.isNaN(b.revenue(2))).toBe(true);
  });

  it('decodes from an unaligned view of a larger buffer (as msgpack hands it over)', () => {
    const bytes = handBlock(2, SAMPLE_KEYS, SAMPLE);
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    expect(readBack(new CellBlock(host.subarray(3)))).toEqual(readBack(new CellBlock(bytes)));
  });

  it('an owned block is used in place when aligned (at an offset in its buffer too), else copied', () => {
    const bytes = handBlock(2, SAMPLE_KEYS, SAMPLE);
    const want = readBack(new CellBlock(bytes));
    for (const at of [0, 4, 3]) {
      const host = new Uint8Array(bytes.length + 8);
      host.set(bytes, at);
      const view = host.subarray(at, at + bytes.length);
      const b = new CellBlock(view, true);
      expect(readBack(b)).toEqual(want);
      expect(b.keys.buffer === host.buffer).toBe(at % 4 === 0);
    }
  });

  const broken: [string, () => Uint8Array][] = [
    ['short', () => new Uint8Array(10)],
    [
      'bad magic',
      () => {
        const b = handBlock(2, ['a'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 1 }]);
        b[0] = 0;
        return b;
      },
    ],
    ['scale 12', () => handBlock(12, ['a'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 1 }])],
    [
      'keys out of order',
      () =>
        handBlock(
          2,
          ['b', 'a'],
          [
            { key: 0, month: 0, rows: 1, units: 1, revenue: 1 },
            { key: 1, month: 0, rows: 1, units: 1, revenue: 1 },
          ],
        ),
    ],
    [
      'duplicate key',
      () =>
        handBlock(
          2,
          ['a', 'a'],
          [
            { key: 0, month: 0, rows: 1, units: 1, revenue: 1 },
            { key: 1, month: 0, rows: 1, units: 1, revenue: 1 },
          ],
        ),
    ],
    [
      'months out of order',
      () =>
        handBlock(
          2,
          ['a'],
          [
            { key: 0, month: 5, rows: 1, units: 1, revenue: 1 },
            { key: 0, month: 5, rows: 1, units: 1, revenue: 1 },
          ],
        ),
    ],
    ['unused key', () => handBlock(2, ['a', 'b'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 1 }])],
    [
      'amount past 2^53',
      () => handBlock(2, ['a'], [{ key: 0, month: 0, rows: 1, units: 2 ** 53 + 2, revenue: 1 }]),
    ],
    [
      'trailing byte',
      () => {
        const b = handBlock(2, ['a'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 1 }]);
        return Uint8Array.from([...b, 0, 0, 0, 0]);
      },
    ],
    [
      'invalid UTF-8 key',
      () => {
        const b = handBlock(2, ['ab'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 1 }]);
        b[24 + 8] = 0xff;
        return b;
      },
    ],
    [
      'wide digits not digits',
      () => {
        const b = handBlock(2, ['a'], [{ key: 0, month: 0, rows: 1, units: 1, revenue: 10n ** 20n }]);
        b[b.length - 8] = 0x41; // one of the 21 digits becomes "A"
        return b;
      },
    ],
  ];
  for (const [what, make] of broken) {
    it(`rejects a block with ${what}`, () => {
      expect(() => new CellBlock(make())).toThrow(ProtocolError);
    });
  }

  // A trusted block (the coordinator's own spill) skips the per-cell checks, never the framing.
  const framing = new Set([
    'short',
    'bad magic',
    'scale 12',
    'unused key',
    'trailing byte',
    'wide digits not digits',
  ]);
  for (const [what, make] of broken) {
    it(`a trusted block with ${what} is ${framing.has(what) ? 'still rejected' : 'read as given'}`, () => {
      const read = () => new CellBlock(make(), false, true);
      if (framing.has(what)) expect(read).toThrow(ProtocolError);
      else expect(read).not.toThrow();
    });
  }

  it("rejects a mart run with a month past NO_MONTH; a customer run's slot is a day up to 65535", () => {
    const block = handBlock(2, ['a'], [{ key: 0, month: 5000, rows: 1, units: 1, revenue: 1 }]);
    expect(() => validateRun({ kind: 'mart', name: 'm', blocks: [block] }, 10)).toThrow(/month/);
    expect(validateRun({ kind: 'cust', name: 'days', blocks: [block] }, 10).blocks).toEqual([block]);
    expect(() => validateRun({ kind: 'other', name: 'x', blocks: [block] }, 10)).toThrow(
      /malformed keyed cells: run/,
    );
  });

  it('rejects a run whose blocks overlap in (key, month) order', () => {
    const one = handBlock(2, ['b'], [{ key: 0, month: 3, rows: 1, units: 1, revenue: 1 }]);
    const two = handBlock(2, ['b'], [{ key: 0, month: 3, rows: 1, units: 1, revenue: 1 }]);
    expect(() => validateRun({ kind: 'mart', name: 'c', blocks: [one, two] }, 10)).toThrow(
      /order across blocks/,
    );
    const later = handBlock(2, ['b'], [{ key: 0, month: 4, rows: 1, units: 1, revenue: 1 }]);
    expect(validateRun({ kind: 'mart', name: 'c', blocks: [one, later] }, 10).blocks).toHaveLength(2);
    expect(() => validateRun({ kind: 'dim', name: 'c', blocks: [one] }, 10)).toThrow(/dimension month/);
  });
});

describe('keyed cells: round trips', () => {
  const amount = fc.oneof(
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
  );
  it('any sorted cells survive the writer and decoder, across block boundaries', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ unit: 'grapheme', maxLength: 6 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: NO_MONTH }), fc.integer({ min: 1, max: 1000 }), amount, amount),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (rawKeys, blockCells, cellPattern) => {
          const keys = rawKeys.map((k) => Buffer.from(k)).sort(Buffer.compare);
          const w = new KeyedCellsWriter(3, blockCells);
          const want: [string, number, number, string, string][] = [];
          for (const key of keys) {
            w.key(key, 0, key.length);
            const months = [...new Set(cellPattern.map((c) => c[0]))].sort((a, b) => a - b);
            months.forEach((m, i) => {
              const [, rows, u, r] = cellPattern[i % cellPattern.length];
              if (typeof u === 'bigint' || typeof r === 'bigint') w.cellBig(m, rows, BigInt(u), BigInt(r));
              else w.cell(m, rows, u, r);
              want.push([key.toString('utf8'), m, rows, BigInt(u).toString(), BigInt(r).toString()]);
            });
          }
          const blocks = w.finish();
          for (const b of blocks) expect(new CellBlock(b).nCells).toBeLessThanOrEqual(blockCells);
          expect(blocks.flatMap((b) => readBack(new CellBlock(b)))).toEqual(want);
          expect(validateRun({ kind: 'mart', name: 'm', blocks }, 1e6).blocks).toBe(blocks);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sort keys of merged amounts: a safe-integer number encodes as its bigint, in integer order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }),
        (a, b) => {
          expect(toSortKey(a)).toBe(toSortKey(BigInt(a)));
          const ta = toSortKey(a);
          const tb = toSortKey(b);
          const byText = ta < tb ? -1 : ta > tb ? 1 : 0;
          expect(byText).toBe(BigInt(a) < b ? -1 : BigInt(a) > b ? 1 : 0);
        },
      ),
      { numRuns: 2000 },
    );
    expect(toSortKey(0)).toBe('p00010');
    expect(() => toSortKey(2 ** 53)).toThrow(RangeError);
  });
});
