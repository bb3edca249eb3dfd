/** Data marts: the merge law (any chunking merges to the whole), wire round trips, validation. */
import { describe, expect, it } from 'vitest';
import { Mart, monthKey, NO_MONTH } from '../src/aggregate/mart.js';
import { emptyAgg, mergeAgg } from '../src/aggregate/partial.js';
import { ProtocolError } from '../src/errors.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';

function snapshot(m: Mart): Record<string, [number, string, string]> {
  const out: Record<string, [number, string, string]> = {};
  for (let c = 0; c < m.size; c++) {
    out[`${m.keyOf(c)}|${monthKey(m.monthOf(c))}`] = [
      m.rowsOf(c),
      m.unitsOf(c).toString(),
      m.revenueOf(c).toString(),
    ];
  }
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
    const whole = parseChunk(Buffer.from(`${lines.join('\n')}\n`), spec).agg;
    for (let trial = 0; trial < 5; trial++) {
      let acc = emptyAgg(2);
      let at = 0;
      while (at < lines.length) {
        const n = 1 + Math.floor(r() * 300);
        acc = mergeAgg(acc, parseChunk(Buffer.from(`${lines.slice(at, at + n).join('\n')}\n`), spec).agg);
        at += n;
      }
      expect(snapshot(acc.marts.get('customer') as Mart)).toEqual(
        snapshot(whole.marts.get('customer') as Mart),
      );
    }
    const m = whole.marts.get('customer') as Mart;
    m.liftTo(4);
    const got = new Map<string, bigint>();
    for (let c = 0; c < m.size; c++) got.set(`${m.keyOf(c)}|${monthKey(m.monthOf(c))}`, m.revenueOf(c));
    expect(got).toEqual(direct);
  });

  it('merge is commutative and associative', () => {
    const mk = (seed: number, scale: number) => {
      const m = new Mart('k', scale, 100);
      const r = rand(seed);
      for (let i = 0; i < 200; i++) {
        const c = m.cell(m.keyId(`k${Math.floor(r() * 20)}`), Math.floor(r() * 5));
        m.add(c, 1, Math.floor(r() * 10), Math.floor(r() * 1e6));
      }
      return m;
    };
    const [a, b, c] = [mk(1, 2), mk(2, 4), mk(3, 3)];
    const ab = a.clone();
    ab.mergeFrom(b);
    const ba = b.clone();
    ba.mergeFrom(a);
    expect(snapshot(ab)).toEqual(snapshot(ba));
    const abc = ab.clone();
    abc.mergeFrom(c);
    const bc = b.clone();
    bc.mergeFrom(c);
    const a_bc = a.clone();
    a_bc.mergeFrom(bc);
    expect(snapshot(abc)).toEqual(snapshot(a_bc));
  });

  it('round-trips through the wire form, with values past 2^53 as strings', () => {
    const m = new Mart('k', 2, 10);
    const c = m.cell(m.keyId('big'), NO_MONTH);
    m.add(c, 1, 5, 2 ** 52);
    m.add(c, 1, 5, 2 ** 52);
    m.addBig(c, 0n, 10n ** 20n);
    const w = m.toWire();
    expect(typeof w.revenue[0]).toBe('string');
    expect(snapshot(Mart.fromWire(JSON.parse(JSON.stringify(w)), 10))).toEqual(snapshot(m));
  });

  it('rejects malformed wire marts', () => {
    const good = new Mart('k', 2, 10).toWire();
    const bad = [
      { ...good, keys: [1] },
      { ...good, keys: ['a'], key: [3], month: [0], rows: [1], units: [1], revenue: [1] },
      { ...good, keys: ['a'], key: [0], month: [5000], rows: [1], units: [1], revenue: [1] },
      { ...good, keys: ['a'], key: [0], month: [0], rows: [1], units: [1], revenue: [1.5] },
      { ...good, keys: ['a'], key: [0], month: [0], rows: [1], units: [1] },
      { ...good, scale: 12 },
    ];
    for (const b of bad) expect(() => Mart.fromWire(b as never, 10)).toThrow(ProtocolError);
  });

  it('throws E_TOO_MANY_KEYS past the cap', () => {
    const m = new Mart('customer', 2, 2);
    m.keyId('a');
    m.keyId('b');
    expect(() => m.keyId('c')).toThrow(/column "customer" has more than 2 distinct values/);
  });
});
