/** The stored (packed) form of mart blocks: round trips, bytes built by hand, and malformed input. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CellBlock, KeyedCellsWriter, NO_MONTH } from '../src/aggregate/keyed-cells.js';
import { PACKED_MAGIC, packBlock, unpackBlock } from '../src/aggregate/packed-cells.js';
import { ProtocolError } from '../src/errors.js';

interface Cell {
  month: number;
  rows: number;
  units: bigint;
  revenue: bigint;
}

/** One SGK1 block per key set: each key's cells in month order (wide amounts included). */
function sgk1(keys: string[], cellsOf: (k: number) => Cell[]): Uint8Array {
  const w = new KeyedCellsWriter(2, 1 << 20);
  [...keys].sort().forEach((key, k) => {
    const b = Buffer.from(key);
    w.key(b, 0, b.length);
    for (const c of cellsOf(k)) w.cellBig(c.month, c.rows, c.units, c.revenue);
  });
  const blocks = w.finish();
  expect(blocks).toHaveLength(1);
  return blocks[0];
}

/** Every field a reader sees, through CellBlock. */
function cellsOfBlock(b: CellBlock): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.nCells; i++)
    out.push(`${b.keyText(b.cellKey[i])}|${b.month[i]}|${b.rows[i]}|${b.unitsBig(i)}|${b.revenueBig(i)}`);
  return out;
}

const amount = fc.oneof(
  fc.bigInt({ min: 0n, max: 255n }),
  fc.bigInt({ min: 256n, max: 65_535n }),
  fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
  fc.constantFrom(0n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, -(2n ** 53n), 2n ** 53n + 1n),
);
const cell = fc.record({
  month: fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 24_000, max: 24_400 }),
    fc.constant(NO_MONTH),
  ),
  rows: fc.oneof(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 1, max: 2 ** 32 - 1 })),
  units: amount,
  revenue: amount,
});

describe('packed mart blocks', () => {
  it('unpack(pack(block)) gives the block byte for byte, and CellBlock reads the same cells', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.array(cell, { minLength: 1, maxLength: 4 }), { minLength: 40, maxLength: 40 }),
        (keys, perKey) => {
          const block = sgk1(keys, (k) => {
            // Months ascend within a key; one cell per month.
            const seen = new Set<number>();
            return perKey[k]
              .filter((c) => !seen.has(c.month) && seen.add(c.month))
              .sort((a, b) => a.month - b.month);
          });
          const packed = packBlock(block);
          expect(new DataView(packed.buffer).getUint32(0, true)).toBe(PACKED_MAGIC);
          const back = unpackBlock(packed);
          expect(Buffer.from(back).equals(Buffer.from(block))).toBe(true);
          expect(cellsOfBlock(new CellBlock(back, true, true))).toEqual(cellsOfBlock(new CellBlock(block)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('writes each column at the narrowest width: a small block by hand', () => {
    // Two keys, three cells: rows and units fit a byte, revenue two bytes, no high words.
    const block = sgk1(['a', 'bc'], (k) =>
      k === 0
        ? [
            { month: 300, rows: 1, units: 2n, revenue: 1234n },
            { month: 301, rows: 2, units: 3n, revenue: 40_000n },
          ]
        : [{ month: 300, rows: 7, units: 9n, revenue: 5n }],
    );
    const packed = packBlock(block);
    const expected = [
      ...[0x53, 0x47, 0x4b, 0x32], // "SGK2"
      ...[2, 0, 0, 0], // scale
      ...[2, 0, 0, 0], // keys
      ...[3, 0, 0, 0], // cells
      ...[3, 0, 0, 0], // key bytes
      ...[0, 0, 0, 0], // wide bytes
      ...[0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0], // key offsets
      ...[0x61, 0x62, 0x63, 0], // "abc", padded
      ...[1, 1, 1, 0, 2, 0, 2, 0], // widths: cellKey, rows, units lo, units hi, revenue lo, hi, month
      ...[0, 0, 1, 0], // cellKey
      ...[1, 2, 7, 0], // rows
      ...[2, 3, 9, 0], // units lo
      ...[0xd2, 0x04, 0x40, 0x9c, 5, 0, 0, 0], // revenue lo: 1234, 40000, 5
      ...[0x2c, 0x01, 0x2d, 0x01, 0x2c, 0x01, 0, 0], // month: 300, 301, 300
    ];
    expect([...packed]).toEqual(expected);
    expect(Buffer.from(unpackBlock(Uint8Array.from(expected))).equals(Buffer.from(block))).toBe(true);
    expect(packed.length).toBeLessThan(block.length);
  });

  it('round-trips every width boundary in every column', () => {
    for (const x of [1, 255, 256, 65_535, 65_536, 2 ** 32 - 1]) {
      const cells: Cell[] = [
        { month: Math.min(x, NO_MONTH), rows: x, units: BigInt(x), revenue: BigInt(x) },
        { month: NO_MONTH + 1 + (x % 7), rows: 1, units: -BigInt(x), revenue: BigInt(x) * 2n ** 32n },
      ];
      // cellKey too: as many keys as x allows (a key number past 255 needs two bytes).
      const keys = Array.from({ length: Math.min(x, 300) }, (_, i) => `k${String(i).padStart(4, '0')}`);
      const block = sgk1(keys, (k) => (k === keys.length - 1 ? cells : [cells[0]]));
      expect(Buffer.from(unpackBlock(packBlock(block))).equals(Buffer.from(block)), `value ${x}`).toBe(true);
    }
  });

  it('reads an SGK1 block (a database written before packing) as it is', () => {
    const block = sgk1(['x'], () => [{ month: 1, rows: 1, units: 1n, revenue: 1n }]);
    expect(unpackBlock(block)).toBe(block);
  });

  it('works on bytes at an odd offset (a blob inside a larger buffer)', () => {
    const block = sgk1(['k1', 'k2'], (k) => [{ month: 5, rows: k + 1, units: 70_000n, revenue: -3n }]);
    const packed = packBlock(block);
    const odd = new Uint8Array(packed.length + 1).subarray(1);
    odd.set(packed);
    expect(Buffer.from(unpackBlock(odd)).equals(Buffer.from(block))).toBe(true);
    const oddIn = new Uint8Array(block.length + 3).subarray(3);
    oddIn.set(block);
    expect(Buffer.from(packBlock(oddIn)).equals(Buffer.from(packed))).toBe(true);
  });

  it('refuses malformed packed bytes with one clear error', () => {
    const packed = packBlock(sgk1(['a', 'b'], () => [{ month: 3, rows: 1, units: 1n, revenue: 300n }]));
    const widthsAt = 24 + 4 * 3 + 4;
    const cases: [string, (b: Uint8Array) => Uint8Array][] = [
      ['short', (b) => b.subarray(0, 10)],
      ['truncated', (b) => b.subarray(0, b.length - 4)],
      ['a trailing word', (b) => Uint8Array.from([...b, 0, 0, 0, 0])],
      [
        'width 3',
        (b) => {
          const c = Uint8Array.from(b);
          c[widthsAt] = 3;
          return c;
        },
      ],
      [
        'a four-byte month',
        (b) => {
          const c = Uint8Array.from(b);
          c[widthsAt + 6] = 4;
          return c;
        },
      ],
      [
        'a billion cells in columns of width 0 (their size does not bound the count)',
        (b) => {
          const c = Uint8Array.from(b.subarray(0, widthsAt + 8));
          c.fill(0, widthsAt, widthsAt + 8);
          c[15] = 0x40;
          return c;
        },
      ],
      [
        'another magic',
        (b) => {
          const c = Uint8Array.from(b);
          c[3] = 0x39;
          return c;
        },
      ],
    ];
    for (const [what, damage] of cases) {
      expect(() => unpackBlock(damage(packed)), what).toThrow(ProtocolError);
      expect(() => unpackBlock(damage(packed)), what).toThrow(/malformed packed cells/);
    }
  });
});
