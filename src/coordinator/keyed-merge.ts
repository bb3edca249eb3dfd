/**
 * The reduce side: a streaming k-way merge of sorted keyed-cell runs into one sorted stream of
 * exact (key, month) sums. It holds one block per run and a tournament (loser) tree of run
 * indexes; nothing per key outlives the step that emits it. Pure: runs come in through `RunSource`.
 */
import { type CellBlock, compareBytes } from '../aggregate/keyed-cells.js';

/** One run's blocks in order; `null` at its end. */
export type RunSource = () => CellBlock | null;

/** A float sum of two integers within ±2^53 is exact only when it lands strictly inside ±2^53. */
const SAFE = 2 ** 53;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const PREFIX_BYTES = 6;
/** An exhausted run's prefix: above every real one (real prefixes are below 2^48). */
const DONE = Number.POSITIVE_INFINITY;

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

/** Byte order of key ka of block a against key kb of block b once their 12-byte prefixes are equal. */
function compareTails(a: CellBlock, ka: number, b: CellBlock, kb: number): number {
  const as = a.keyOffset[ka];
  const ae = a.keyOffset[ka + 1];
  const bs = b.keyOffset[kb];
  const be = b.keyOffset[kb + 1];
  // Equal first 12 bytes (zero-padded): two keys that short differ only in length.
  if (ae - as <= 2 * PREFIX_BYTES && be - bs <= 2 * PREFIX_BYTES) return ae - as - (be - bs);
  return compareBytes(a.keys, as, ae, b.keys, bs, be);
}

/** A key range of the merge: keys ≥ `from` and < `until` (UTF-8 bytes), each bound optional. */
export interface KeyRange {
  from?: Uint8Array;
  until?: Uint8Array;
}

/** Byte order of key k of block b against `x`. */
function compareToBytes(b: CellBlock, k: number, x: Uint8Array): number {
  return compareBytes(b.keys, b.keyOffset[k], b.keyOffset[k + 1], x, 0, x.length);
}

/**
 * Usage: `while (m.next()) use(m.keyText(), m.month, m.rows, m.units, m.revenue)`. Amounts are
 * numbers while exact (|v| ≤ 2^53), bigints past that, revenue at `scale`. With a `KeyRange`, only
 * that range's keys are merged: runs skip to `from` and the merge ends at `until`.
 */
export class KeyedMerge {
  readonly scale: number;
  /** Per run: its source, current block and prefixes, and its current cell as plain numbers. */
  private readonly next_: RunSource[] = [];
  private readonly block: CellBlock[] = [];
  private readonly pre: Float64Array[] = [];
  private readonly cell: Int32Array;
  private readonly key: Int32Array;
  private readonly hi: Float64Array;
  private readonly lo: Float64Array;
  private readonly mon: Int32Array;
  /** Loser tree over the runs: tree[0] the winner, tree[1..] the loser of each match. */
  private readonly tree: Int32Array;
  private readonly k: number;
  private live = 0;
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
  private outKey = 0;
  private outHi = -1;
  private outLo = -1;

  private readonly until: Uint8Array | null;
  private untilHi = 0;
  private untilLo = 0;

  constructor(sources: RunSource[], scale: number, range: KeyRange = {}) {
    this.scale = scale;
    this.until = range.until ?? null;
    if (this.until !== null) {
      const u = this.until;
      for (let i = 0; i < PREFIX_BYTES; i++) this.untilHi = this.untilHi * 256 + (i < u.length ? u[i] : 0);
      for (let i = PREFIX_BYTES; i < 2 * PREFIX_BYTES; i++)
        this.untilLo = this.untilLo * 256 + (i < u.length ? u[i] : 0);
    }
    const starts: number[] = [];
    for (const next of sources) {
      let block = next();
      let cell = 0;
      if (range.from !== undefined) {
        const from = range.from;
        // Blocks wholly below `from` are skipped; in the first that is not, the first cell at or past it.
        while (block !== null && compareToBytes(block, block.nKeys - 1, from) < 0) block = next();
        if (block !== null) {
          let k = 0;
          while (compareToBytes(block, k, from) < 0) k++;
          while (block.cellKey[cell] < k) cell++;
        }
      }
      if (block === null) continue;
      this.checkScale(block);
      this.next_.push(next);
      this.block.push(block);
      this.pre.push(prefixes(block));
      starts.push(cell);
    }
    const k = Math.max(1, this.next_.length);
    this.k = k;
    this.live = this.next_.length;
    this.cell = new Int32Array(k);
    this.key = new Int32Array(k);
    this.hi = new Float64Array(k).fill(DONE);
    this.lo = new Float64Array(k).fill(DONE);
    this.mon = new Int32Array(k);
    for (let i = 0; i < this.next_.length; i++) {
      this.cell[i] = starts[i];
      this.load(i);
    }
    this.tree = new Int32Array(k);
    this.build();
  }

  private checkScale(b: CellBlock): void {
    if (b.scale > this.scale)
      throw new RangeError(`a run has scale ${b.scale}, above the merge's ${this.scale}`);
  }

  /** Caches run i's current cell: its key's prefixes and its month. */
  private load(i: number): void {
    const b = this.block[i];
    const c = this.cell[i];
    const key = b.cellKey[c];
    this.key[i] = key;
    const p = this.pre[i];
    this.hi[i] = p[2 * key];
    this.lo[i] = p[2 * key + 1];
    this.mon[i] = b.month[c];
  }

  /** Whether run a's cell comes before run b's: (key, month), then the run index (stable). */
  private less(a: number, b: number): boolean {
    const ha = this.hi[a];
    const hb = this.hi[b];
    if (ha !== hb) return ha < hb;
    if (ha === DONE) return a < b;
    const la = this.lo[a];
    const lb = this.lo[b];
    if (la !== lb) return la < lb;
    const c = compareTails(this.block[a], this.key[a], this.block[b], this.key[b]);
    if (c !== 0) return c < 0;
    const ma = this.mon[a];
    const mb = this.mon[b];
    return ma !== mb ? ma < mb : a < b;
  }

  /** Plays every match bottom-up (runs are the leaves k … 2k-1 of an implicit tree). */
  private build(): void {
    const k = this.k;
    const win = new Int32Array(2 * k);
    for (let i = 0; i < k; i++) win[k + i] = i;
    for (let n = k - 1; n >= 1; n--) {
      const a = win[2 * n];
      const b = win[2 * n + 1];
      if (this.less(a, b)) {
        win[n] = a;
        this.tree[n] = b;
      } else {
        win[n] = b;
        this.tree[n] = a;
      }
    }
    this.tree[0] = k === 1 ? 0 : win[1];
  }

  /** Run w's cell changed: replays its path to the root. */
  private replay(w: number): void {
    const t = this.tree;
    for (let n = (w + this.k) >> 1; n >= 1; n >>= 1) {
      const o = t[n];
      if (this.less(o, w)) {
        t[n] = w;
        w = o;
      }
    }
    t[0] = w;
  }

  /** Moves run w past its cell, to its next block or its end. */
  private advance(w: number): void {
    const c = ++this.cell[w];
    if (c >= this.block[w].nCells) {
      const block = this.next_[w]();
      if (block === null) {
        this.hi[w] = DONE;
        this.lo[w] = DONE;
        this.live--;
        this.replay(w);
        return;
      }
      this.checkScale(block);
      this.block[w] = block;
      this.pre[w] = prefixes(block);
      this.cell[w] = 0;
    }
    this.load(w);
    this.replay(w);
  }

  /** Whether run w's key is below `until`. */
  private belowUntil(w: number): boolean {
    const h = this.hi[w];
    if (h !== this.untilHi) return h < this.untilHi;
    const l = this.lo[w];
    if (l !== this.untilLo) return l < this.untilLo;
    return compareToBytes(this.block[w], this.key[w], this.until as Uint8Array) < 0;
  }

  /** Whether run w's cell has the emitted (key, month). */
  private sameAsOut(w: number): boolean {
    return (
      this.hi[w] === this.outHi &&
      this.lo[w] === this.outLo &&
      this.mon[w] === this.month &&
      compareTails(this.outBlock as CellBlock, this.outKey, this.block[w], this.key[w]) === 0
    );
  }

  /** Emits the next (key, month) with the sum of its cells over every run; false at the end. */
  next(): boolean {
    if (this.live === 0) return false;
    let w = this.tree[0];
    if (this.until !== null && !this.belowUntil(w)) {
      this.live = 0;
      return false;
    }
    const newKey =
      this.outBlock === null ||
      this.hi[w] !== this.outHi ||
      this.lo[w] !== this.outLo ||
      compareTails(this.outBlock, this.outKey, this.block[w], this.key[w]) !== 0;
    if (newKey) this.keys++;
    // Keep the emitted key's block alive even if its run moves on.
    this.outBlock = this.block[w];
    this.outKey = this.key[w];
    this.outHi = this.hi[w];
    this.outLo = this.lo[w];
    this.month = this.mon[w];
    let rows = 0;
    let uN = 0;
    let uB: bigint | null = null;
    let rN = 0;
    let rB: bigint | null = null;
    do {
      const b = this.block[w];
      const i = this.cell[w];
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
      this.advance(w);
      w = this.tree[0];
    } while (this.live > 0 && this.sameAsOut(w));
    this.rows = rows;
    this.uN = uN;
    this.uB = uB;
    this.rN = rN;
    this.rB = rB;
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
