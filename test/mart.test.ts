/** Data marts: the merge law (any chunking merges to the whole), wire round trips, validation. */
import { describe, expect, it } from 'vitest';
import type { KeyedRun } from '../src/aggregate/keyed-cells.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { cellsOf } from './helpers/keyed.js';

function snapshot(runs: KeyedRun[], scale: number): Record<string, [number, string, string]> {
  const out: Record<string, [number, string, string]> = {};
  for (const [k, c] of cellsOf(runs, 'mart', 'customer', scale))
    out[k] = [c.rows, c.units.toString(), c.revenue.toString()];
  return out;
}

const spec: ScanSpec = {
  delimiter: 44,
  fieldCount: 4,
  price: 2,
  quantity: 3,
  revenue: -1,
  date: 1,
  dateFormat: 'ymd',
  decimalComma: false,
  scale: 2,
  dimensions: [],
  marts: [{ name: 'customer', index: 0 }],
  maxKeys: 1000,
  names: ['customer', 'date', 'price', 'qty'],
};

function rand(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('mart', () => {
  it('any split of the rows into chunks merges to the mart of the whole file, and to a direct computation', () => {
    const r = rand(7);
    const lines: string[] = [];
    const direct = new Map<string, bigint>();
    for (let i = 0; i < 2000; i++) {
      const cust = `c${Math.floor(r() * 50)}`;
      const month = `2023-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}`;
      const decimals = r() < 0.2 ? 4 : 2;
      const cents = BigInt(Math.floor(r() * 10 ** (decimals + 3)));
      const qty = 1 + Math.floor(r() * 9);
      const price = `${cents / 10n ** BigInt(decimals)}.${(cents % 10n ** BigInt(decimals)).toString().padStart(decimals, '0')}`;
      lines.push(`${cust},${month}-15,${price},${qty}`);
      const key = `${cust}|${month}`;
      direct.set(key, (direct.get(key) ?? 0n) + cents * 10n ** BigInt(4 - decimals) * BigInt(qty));
    }
    const whole = parseChunk(Buffer.from(`${lines.join('\n')}\n`), spec);
    for (let trial = 0; trial < 5; trial++) {
      const runs: KeyedRun[] = [];
      let at = 0;
      while (at < lines.length) {
        const n = 1 + Math.floor(r() * 300);
        runs.push(...parseChunk(Buffer.from(`${lines.slice(at, at + n).join('\n')}\n`), spec).cells);
        at += n;
      }
      expect(snapshot(runs, 4)).toEqual(snapshot(whole.cells, 4));
    }
    const got = new Map<string, bigint>();
    for (const [k, c] of cellsOf(whole.cells, 'mart', 'customer', 4)) got.set(k, c.revenue);
    expect(got).toEqual(direct);
  });

  it('throws E_TOO_MANY_KEYS past the cap within one chunk', () => {
    const text = ['a', 'b', 'c'].map((c) => `${c},2023-01-01,1.00,1`).join('\n');
    expect(() => parseChunk(Buffer.from(text), { ...spec, maxKeys: 2 })).toThrow(
      /column "customer" has more than 2 distinct values/,
    );
  });
});
