/**
 * Exact rows/units/revenue per pair of integer slots (a, b), e.g. (customer slot, order slot): an
 * open-addressing index over typed arrays, so a row's composite key costs two integer compares
 * instead of hashing and comparing its bytes. The same accumulator rules as KeyTable (numbers
 * within 2^52, a sparse bigint side table past it), so encoding it gives the same cells.
 */
import { TooManyKeysError } from '../errors.js';
import { ExactSums } from './exact-sums.js';

/** Tables whose chunk is done; parsing is synchronous, so a table is reused by the next chunk. */
const spare: PairTable[] = [];

function hash(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class PairTable extends ExactSums {
  name: string;
  private maxKeys: number;
  private index = new Int32Array(1 << 12);
  private mask = (1 << 12) - 1;
  a = new Int32Array(256);
  b = new Int32Array(256);

  /** `name` and `maxKeys` as for a KeyTable of the composite keys (the same error past the cap). */
  constructor(name: string, maxKeys: number) {
    super();
    this.name = name;
    this.maxKeys = maxKeys;
  }

  /** An empty table for a new chunk: a spare one (its arrays kept) or a new one. */
  static take(name: string, maxKeys: number): PairTable {
    const t = spare.pop();
    if (t === undefined) return new PairTable(name, maxKeys);
    t.name = name;
    t.maxKeys = maxKeys;
    return t;
  }

  /** Empties the table and keeps it for the next chunk. */
  release(): void {
    this.index.fill(0);
    this.clearSums();
    if (spare.length < 4) spare.push(this);
  }

  /** Cell of (a, b), created empty if new. */
  cell(a: number, b: number): number {
    let p = hash(a, b) & this.mask;
    for (;;) {
      const v = this.index[p];
      if (v === 0) break;
      const c = v - 1;
      if (this.a[c] === a && this.b[c] === b) return c;
      p = (p + 1) & this.mask;
    }
    if (this.size >= this.maxKeys) {
      throw new TooManyKeysError(
        `column "${this.name}" has more than ${this.maxKeys} distinct values; raise --max-keys or leave the column out`,
      );
    }
    const c = this.size++;
    if (c >= this.a.length) this.growCells();
    this.a[c] = a;
    this.b[c] = b;
    this.index[p] = c + 1;
    if (this.size * 2 > this.mask) this.growIndex();
    return c;
  }

  private growCells(): void {
    const n = this.a.length * 2;
    const grow = <T extends Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.a = grow(this.a, new Int32Array(n));
    this.b = grow(this.b, new Int32Array(n));
    this.growSums(n);
  }

  private growIndex(): void {
    const size = (this.mask + 1) * 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    for (let c = 0; c < this.size; c++) {
      let p = hash(this.a[c], this.b[c]) & this.mask;
      while (this.index[p] !== 0) p = (p + 1) & this.mask;
      this.index[p] = c + 1;
    }
  }

  /** Multiplies every revenue by `factor` exactly (a scale raise). */
  upscale(factor: bigint): void {
    this.scaleRevenue(factor);
  }

  /**
   * Cells in ascending (rankA[a], rankB[b]) order: a counting sort by the first rank (nA ranks),
   * then each group by the second.
   */
  sortedCells(rankA: Uint32Array, nA: number, rankB: Uint32Array): Uint32Array {
    const n = this.size;
    const start = new Uint32Array(nA + 1);
    const a = this.a;
    const b = this.b;
    for (let c = 0; c < n; c++) start[rankA[a[c]] + 1]++;
    for (let k = 0; k < nA; k++) start[k + 1] += start[k];
    const fill = start.slice(0, nA);
    const sorted = new Uint32Array(n);
    for (let c = 0; c < n; c++) sorted[fill[rankA[a[c]]]++] = c;
    const byB = (x: number, y: number) => rankB[b[x]] - rankB[b[y]];
    for (let k = 0; k < nA; k++) {
      const lo = start[k];
      const hi = start[k + 1];
      if (hi - lo > 32) {
        sorted.subarray(lo, hi).sort(byB);
        continue;
      }
      for (let i = lo + 1; i < hi; i++) {
        const c = sorted[i];
        const r = rankB[b[c]];
        let j = i - 1;
        while (j >= lo && rankB[b[sorted[j]]] > r) {
          sorted[j + 1] = sorted[j];
          j--;
        }
        sorted[j + 1] = c;
      }
    }
    return sorted;
  }
}
