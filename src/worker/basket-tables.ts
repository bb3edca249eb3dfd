/**
 * The small typed tables behind a chunk's basket counts (worker/basket-runs.ts): an exact
 * sum, pair counts in open addressing, order-size histograms. Reused or allocation-free per row.
 */
import { KeyedCellsWriter, NO_MONTH } from '../aggregate/keyed-cells.js';

const LIMIT = 2 ** 52;
/** Histogram keys: sizes as zero-padded decimals, so byte order is numeric order. */
const SIZE_DIGITS = 10;

export function sizeKey(n: number): string {
  return String(n).padStart(SIZE_DIGITS, '0');
}

/** Exact sum of safe integers: a number folded into a bigint before it can pass 2^52. */
export class ExactSum {
  n = 0;
  big = 0n;
  add(v: number): void {
    const s = this.n + v;
    if (s > LIMIT || s < -LIMIT) {
      this.big += BigInt(s);
      this.n = 0;
    } else this.n = s;
  }
  value(): bigint {
    return this.big + BigInt(this.n);
  }
}

/**
 * Pair counts keyed by rankA × items + rankB (exact below 2^53), open addressing in typed
 * arrays, reused by the next chunk: a Map would allocate per pair.
 */
export class PairCounter {
  private static spare: PairCounter | null = null;
  private keys = new Float64Array(1 << 12).fill(-1);
  private counts = new Uint32Array(1 << 12);
  private used = 0;

  static take(): PairCounter {
    const p = PairCounter.spare ?? new PairCounter();
    PairCounter.spare = null;
    p.keys.fill(-1);
    p.counts.fill(0);
    p.used = 0;
    return p;
  }

  private find(key: number): number {
    const mask = this.keys.length - 1;
    let h = Math.imul((key % 4294967296) ^ Math.floor(key / 4294967296), 0x9e3779b1);
    h ^= h >>> 15;
    let p = h & mask;
    while (this.keys[p] !== -1 && this.keys[p] !== key) p = (p + 1) & mask;
    return p;
  }

  add(key: number): void {
    let p = this.find(key);
    if (this.keys[p] === -1) {
      if (2 * (this.used + 1) > this.keys.length) {
        this.grow();
        p = this.find(key);
      }
      this.keys[p] = key;
      this.used++;
    }
    this.counts[p]++;
  }

  /** `add` n times. */
  addCount(key: number, n: number): void {
    this.add(key);
    this.counts[this.find(key)] += n - 1;
  }

  count(key: number): number {
    return this.counts[this.find(key)];
  }

  private grow(): void {
    const keys = this.keys;
    const counts = this.counts;
    this.keys = new Float64Array(keys.length * 2).fill(-1);
    this.counts = new Uint32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === -1) continue;
      const p = this.find(keys[i]);
      this.keys[p] = keys[i];
      this.counts[p] = counts[i];
    }
  }

  /** The keys in ascending order; the counter goes back to the spare slot. */
  sortedKeys(): Float64Array {
    const out = new Float64Array(this.used);
    let n = 0;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== -1) out[n++] = this.keys[i];
    PairCounter.spare = this;
    return out.sort();
  }
}

/** Orders per size: small sizes in an array, the rare large ones in a map. */
export class Histogram {
  private readonly small = new Uint32Array(256);
  private readonly large = new Map<number, number>();
  add(size: number, n = 1): void {
    if (size < 256) this.small[size] += n;
    else this.large.set(size, (this.large.get(size) ?? 0) + n);
  }
  encode(scale: number, small: number): KeyedCellsWriter {
    const w = new KeyedCellsWriter(scale, small);
    const cell = (size: number, n: number) => {
      const key = Buffer.from(sizeKey(size));
      w.key(key, 0, key.length);
      w.cell(NO_MONTH, n, 0, 0);
    };
    for (let s = 0; s < 256; s++) if (this.small[s] > 0) cell(s, this.small[s]);
    for (const s of [...this.large.keys()].sort((a, b) => a - b)) cell(s, this.large.get(s) as number);
    return w;
  }
}
