/**
 * The reduce side: a streaming k-way merge of sorted keyed-cell runs into one sorted stream of
 * exact (key, month) sums. It holds one block per run and a heap of run indexes; nothing per key
 * outlives the step that emits it. Pure: runs come in through `RunSource`.
 */
import { type CellBlock, compareBytes } from '../aggregate/keyed-cells.js';

/** One run's blocks in order; `null` at its end. */
export type RunSource = () => CellBlock | null;

/** A float sum of two integers within ±2^53 is exact only when it lands strictly inside ±2^53. */
const SAFE = 2 ** 53;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

interface Cursor {
  block: CellBlock;
  /** The block's key prefixes (see prefixes). */
  pre: Float64Array;
  cell: number;
  key: number;
  next: RunSource;
}

const PREFIX_BYTES = 6;

/**
 * Per key, its first 12 bytes as two exact integers (6 bytes each, big-endian, zero-padded), so
 * most comparisons are two number comparisons instead of a byte loop.
 */
function prefixes(b: CellBlock): Float64Array {
  const out = new Float64Array(2 * b.nKeys);
  const keys = b.keys;
  const off = b.keyOffset;
  for (let k = 0; k < b.nKeys; k++) {
    const s = off[k];
    const e = off[k + 1];
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < PREFIX_BYTES; i++) hi = hi * 256 + (s + i < e ? keys[s + i] : 0);
    for (let i = PREFIX_BYTES; i < 2 * PREFIX_BYTES; i++) lo = lo * 256 + (s + i < e ? keys[s + i] : 0);
    out[2 * k] = hi;
    out[2 * k + 1] = lo;
  }
  return out;
}

/** Byte order of key ka of block a against key kb of block b, prefixes first. */
function compareKeys(
  a: CellBlock,
  pa: Float64Array,
  ka: number,
  b: CellBlock,
  pb: Float64Array,
  kb: number,
): number {
  let x = pa[2 * ka];
  let y = pb[2 * kb];
  if (x !== y) return x < y ? -1 : 1;
  x = pa[2 * ka + 1];
  y = pb[2 * kb + 1];
  if (x !== y) return x < y ? -1 : 1;
  const as = a.keyOffset[ka];
  const ae = a.keyOffset[ka + 1];
  const bs = b.keyOffset[kb];
  const be = b.keyOffset[kb + 1];
  // Equal first 12 bytes (zero-padded): two keys that short differ only in length.
  if (ae - as <= 2 * PREFIX_BYTES && be - bs <= 2 * PREFIX_BYTES) return ae - as - (be - bs);
  return compareBytes(a.keys, as, ae, b.keys, bs, be);
}

/**
 * Usage: `while (m.next()) use(m.keyText(), m.month, m.rows, m.units, m.revenue)`. Amounts are
 * numbers while exact (|v| ≤ 2^53), bigints past that, revenue at `scale`.
 */
export class KeyedMerge {
  readonly scale: number;
  private readonly heap: Cursor[] = [];
  /** The emitted cell. */
  month = 0;
  rows = 0;
  // Amounts as a number while exact, and a bigint past 2^53 (rare).
  private uN = 0;
  private uB: bigint | null = null;
  private rN = 0;
  private rB: bigint | null = null;
  /** Distinct keys emitted so far. */
  keys = 0;
  private outBlock: CellBlock | null = null;
  private outPre: Float64Array = new Float64Array(0);
  private outKey = 0;
  private lastBlock: CellBlock | null = null;
  private lastPre: Float64Array = new Float64Array(0);
  private lastKey = -1;

  constructor(sources: RunSource[], scale: number) {
    this.scale = scale;
    for (const next of sources) {
      const block = next();
      if (block === null) continue;
      if (block.scale > scale)
        throw new RangeError(`a run has scale ${block.scale}, above the merge's ${scale}`);
      this.heap.push({ block, pre: prefixes(block), cell: 0, key: block.cellKey[0], next });
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private less(a: Cursor, b: Cursor): boolean {
    const c = compareKeys(a.block, a.pre, a.key, b.block, b.pre, b.key);
    return c < 0 || (c === 0 && a.block.month[a.cell] < b.block.month[b.cell]);
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.less(h[r], h[l]) ? r : l;
      if (!this.less(h[m], h[i])) return;
      const t = h[i];
      h[i] = h[m];
      h[m] = t;
      i = m;
    }
  }

  /** Moves the top cursor past its cell, dropping it at the end of its run. */
  private advance(): void {
    const top = this.heap[0];
    top.cell++;
    if (top.cell >= top.block.nCells) {
      const block = top.next();
      if (block === null) {
        const last = this.heap.pop() as Cursor;
        if (this.heap.length === 0) return;
        this.heap[0] = last;
        this.down(0);
        return;
      }
      if (block.scale > this.scale)
        throw new RangeError(`a run has scale ${block.scale}, above the merge's ${this.scale}`);
      top.block = block;
      top.pre = prefixes(block);
      top.cell = 0;
    }
    top.key = top.block.cellKey[top.cell];
    this.down(0);
  }

  private sameAsOut(c: Cursor): boolean {
    return (
      c.block.month[c.cell] === this.month &&
      compareKeys(this.outBlock as CellBlock, this.outPre, this.outKey, c.block, c.pre, c.key) === 0
    );
  }

  /** Emits the next (key, month) with the sum of its cells over every run; false at the end. */
  next(): boolean {
    if (this.heap.length === 0) return false;
    const first = this.heap[0];
    // Keep the emitted key's block alive even if its cursor moves on.
    this.outBlock = first.block;
    this.outPre = first.pre;
    this.outKey = first.key;
    this.month = first.block.month[first.cell];
    let rows = 0;
    let uN = 0;
    let uB: bigint | null = null;
    let rN = 0;
    let rB: bigint | null = null;
    do {
      const c = this.heap[0];
      const b = c.block;
      const i = c.cell;
      rows += b.rows[i];
      const u = b.units(i);
      if (uB === null && !Number.isNaN(u) && Math.abs(uN + u) < SAFE) uN += u;
      else {
        uB = (uB ?? BigInt(uN)) + b.unitsBig(i);
        uN = 0;
      }
      const f = this.scale - b.scale;
      const r = b.revenue(i);
      const lifted = Number.isNaN(r) ? Number.NaN : r * POW10[f];
      if (rB === null && !Number.isNaN(lifted) && Math.abs(lifted) < SAFE && Math.abs(rN + lifted) < SAFE)
        rN += lifted;
      else {
        rB = (rB ?? BigInt(rN)) + b.revenueBig(i) * 10n ** BigInt(f);
        rN = 0;
      }
      this.advance();
    } while (this.heap.length > 0 && this.sameAsOut(this.heap[0]));
    this.rows = rows;
    this.uN = uN;
    this.uB = uB;
    this.rN = rN;
    this.rB = rB;
    const ob = this.outBlock as CellBlock;
    if (
      this.lastBlock === null ||
      compareKeys(this.lastBlock, this.lastPre, this.lastKey, ob, this.outPre, this.outKey) !== 0
    )
      this.keys++;
    this.lastBlock = ob;
    this.lastPre = this.outPre;
    this.lastKey = this.outKey;
    return true;
  }

  /** The emitted cell's units: a number while exact (|v| < 2^53), else a bigint. */
  get units(): number | bigint {
    return this.uB ?? this.uN;
  }

  /** The emitted cell's revenue at `scale`, as `units`. */
  get revenue(): number | bigint {
    return this.rB ?? this.rN;
  }

  /** The emitted key's bytes: `keyBytes()[keyStart(), keyEnd())`. */
  keyBytes(): Uint8Array {
    return (this.outBlock as CellBlock).keys;
  }

  keyStart(): number {
    return (this.outBlock as CellBlock).keyOffset[this.outKey];
  }

  keyEnd(): number {
    return (this.outBlock as CellBlock).keyOffset[this.outKey + 1];
  }

  /** The emitted key as text. */
  keyText(): string {
    // A key's months come one after another: decode its text once.
    if (this.textBlock !== this.outBlock || this.textKey !== this.outKey) {
      this.textBlock = this.outBlock;
      this.textKey = this.outKey;
      this.text = (this.outBlock as CellBlock).keyText(this.outKey);
    }
    return this.text;
  }

  private textBlock: CellBlock | null = null;
  private textKey = -1;
  private text = '';
}
