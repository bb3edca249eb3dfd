/**
 * Interns byte-range keys without building a string per key: FNV-1a over the bytes, open
 * addressing, byte comparison on hit. A KeySet only interns (slots in insertion order, sortable by
 * key bytes); a KeyTable also carries exact rows/units/revenue accumulators per key.
 * Keys that are not valid UTF-8 are interned as their replacement-character form, so the bytes a
 * table holds always decode to distinct strings.
 */
import { isUtf8 } from 'node:buffer';
import { compareBytes } from '../aggregate/keyed-cells.js';
import { TooManyKeysError } from '../errors.js';

const LIMIT = 2 ** 52;

/** Sets whose chunk is done; parsing is synchronous, so a set is reused by the next chunk. */
const spare: KeySet[] = [];

export class KeySet {
  name: string;
  private maxKeys: number;
  private table: Int32Array;
  private mask: number;
  private bytes: Buffer;
  private view: DataView;
  private bytesUsed = 0;
  private starts = new Int32Array(256);
  private lengths = new Int32Array(256);
  private hashes = new Int32Array(256);
  private count = 0;

  constructor(name: string, maxKeys: number) {
    this.name = name;
    this.maxKeys = maxKeys;
    this.table = new Int32Array(256);
    this.mask = 255;
    this.bytes = Buffer.allocUnsafe(4096);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
  }

  /** An empty set for a new chunk: a spare one (its arrays kept, so memory does not churn) or a new one. */
  static take(name: string, maxKeys: number): KeySet {
    const t = spare.pop();
    if (t === undefined) return new KeySet(name, maxKeys);
    t.name = name;
    t.maxKeys = maxKeys;
    return t;
  }

  /** Empties the set and keeps it for the next chunk (only a set from `take`, once its bytes are no longer read). */
  release(): void {
    this.table.fill(0);
    this.count = 0;
    this.bytesUsed = 0;
    if (spare.length < 8) spare.push(this);
  }

  get size(): number {
    return this.count;
  }

  /** The bytes holding every key; slot s is keyBytes[keyStart(s), keyEnd(s)). Valid until the next insert. */
  get keyBytes(): Buffer {
    return this.bytes;
  }

  keyStart(slot: number): number {
    return this.starts[slot];
  }

  keyEnd(slot: number): number {
    return this.starts[slot] + this.lengths[slot];
  }

  keyText(slot: number): string {
    return this.bytes.toString('utf8', this.keyStart(slot), this.keyEnd(slot));
  }

  /**
   * Slots in ascending byte order of their keys. A native sort of (40-bit prefix after the common
   * prefix, slot) words, then a byte comparison inside runs of equal prefixes.
   */
  sortedSlots(): Uint32Array {
    const n = this.count;
    const out = new Uint32Array(n);
    if (n === 0) return out;
    const bytes = this.bytes;
    const starts = this.starts;
    const lengths = this.lengths;
    const cmp = (a: number, b: number) =>
      compareBytes(bytes, starts[a], starts[a] + lengths[a], bytes, starts[b], starts[b] + lengths[b]);
    if (n >= 1 << 24) {
      for (let i = 0; i < n; i++) out[i] = i;
      return out.sort(cmp);
    }
    let lcp = lengths[0];
    const s0 = starts[0];
    for (let k = 1; k < n && lcp > 0; k++) {
      const s = starts[k];
      const m = Math.min(lcp, lengths[k]);
      let i = 0;
      while (i < m && bytes[s + i] === bytes[s0 + i]) i++;
      lcp = i;
    }
    const words = new BigUint64Array(n);
    const w = new Uint32Array(words.buffer);
    for (let k = 0; k < n; k++) {
      const s = starts[k] + lcp;
      const len = lengths[k] - lcp;
      const b = (i: number) => (i < len ? bytes[s + i] : 0);
      w[2 * k + 1] = ((b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3)) >>> 0;
      w[2 * k] = ((b(4) << 24) | k) >>> 0;
    }
    words.sort();
    for (let i = 0; i < n; i++) out[i] = w[2 * i] & 0xffffff;
    // Runs of equal prefixes are ordered by the whole key.
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && w[2 * j + 1] === w[2 * i + 1] && w[2 * j] >>> 24 === w[2 * i] >>> 24) j++;
      if (j - i > 1) out.subarray(i, j).sort(cmp);
      i = j;
    }
    return out;
  }

  /**
   * Slot of the key in buf[s, e), inserting it if new. Throws TooManyKeysError past the cap.
   * `view` is a DataView over the same bytes as `buf` (word reads).
   */
  slot(
    buf: Uint8Array,
    s: number,
    e: number,
    view: DataView = new DataView(buf.buffer, buf.byteOffset, buf.length),
  ): number {
    const len = e - s;
    // FNV-style over 4-byte words (a quarter of the multiplies), then a murmur finalizer so the
    // low bits used by the mask depend on every byte.
    let h = 0x811c9dc5 ^ len;
    let i = s;
    for (; i + 4 <= e; i += 4) h = Math.imul(h ^ view.getUint32(i, true), 0x01000193);
    for (; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    let p = h & this.mask;
    for (;;) {
      const v = this.table[p];
      if (v === 0) break;
      const slot = v - 1;
      if (this.hashes[slot] === h && this.lengths[slot] === len && this.same(slot, buf, view, s, len))
        return slot;
      p = (p + 1) & this.mask;
    }
    let ascii = true;
    for (let k = s; k < e && ascii; k++) ascii = buf[k] < 0x80;
    if (!ascii && !isUtf8(buf.subarray(s, e))) {
      const fixed = Buffer.from(Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8'), 'utf8');
      return this.slot(fixed, 0, fixed.length);
    }
    return this.insert(buf, s, e, h, p);
  }

  private same(slot: number, buf: Uint8Array, view: DataView, s: number, len: number): boolean {
    const base = this.starts[slot];
    const bytes = this.bytes;
    const kv = this.view;
    let i = 0;
    for (; i + 4 <= len; i += 4) if (kv.getUint32(base + i) !== view.getUint32(s + i)) return false;
    for (; i < len; i++) if (bytes[base + i] !== buf[s + i]) return false;
    return true;
  }

  private insert(buf: Uint8Array, s: number, e: number, h: number, p: number): number {
    if (this.count >= this.maxKeys) {
      throw new TooManyKeysError(
        `column "${this.name}" has more than ${this.maxKeys} distinct values; raise --max-keys or leave the column out`,
      );
    }
    const len = e - s;
    if (this.bytesUsed + len > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.bytesUsed + len));
      this.bytes.copy(grown, 0, 0, this.bytesUsed);
      this.bytes = grown;
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
    }
    const bytes = this.bytes;
    for (let i = 0, at = this.bytesUsed; i < len; i++) bytes[at + i] = buf[s + i];
    const slot = this.count++;
    if (slot === this.starts.length) this.growKeys();
    this.starts[slot] = this.bytesUsed;
    this.lengths[slot] = len;
    this.hashes[slot] = h;
    this.bytesUsed += len;
    this.added();
    this.table[p] = slot + 1;
    if (this.count * 2 > this.mask) this.grow();
    return slot;
  }

  /** Called once per new key, after its slot is taken (a KeyTable opens its accumulators). */
  protected added(): void {}

  private growKeys(): void {
    const n = this.starts.length * 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts);
    this.lengths = grow(this.lengths);
    this.hashes = grow(this.hashes);
  }

  private grow(): void {
    const size = (this.mask + 1) * 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let slot = 0; slot < this.count; slot++) {
      let p = this.hashes[slot] & this.mask;
      while (this.table[p] !== 0) p = (p + 1) & this.mask;
      this.table[p] = slot + 1;
    }
  }
}

/** A KeySet with exact rows/units/revenue accumulators per key. */
export class KeyTable extends KeySet {
  readonly rows: number[] = [];
  readonly units: number[] = [];
  readonly unitsBig: bigint[] = [];
  readonly revenue: number[] = [];
  readonly revenueBig: bigint[] = [];

  protected override added(): void {
    this.rows.push(0);
    this.units.push(0);
    this.unitsBig.push(0n);
    this.revenue.push(0);
    this.revenueBig.push(0n);
  }

  add(slot: number, units: number, revenue: number): void {
    this.rows[slot]++;
    let u = this.units[slot] + units;
    if (u > LIMIT || u < -LIMIT) {
      this.unitsBig[slot] += BigInt(u);
      u = 0;
    }
    this.units[slot] = u;
    let r = this.revenue[slot] + revenue;
    if (r > LIMIT || r < -LIMIT) {
      this.revenueBig[slot] += BigInt(r);
      r = 0;
    }
    this.revenue[slot] = r;
  }

  /** Adds an amount too large for the number path. */
  addBig(slot: number, revenue: bigint): void {
    this.revenueBig[slot] += revenue;
  }

  /** Multiplies every money accumulator by `factor` (a scale raise). */
  upscale(factor: bigint): void {
    for (let i = 0; i < this.size; i++) {
      this.revenueBig[i] = (this.revenueBig[i] + BigInt(this.revenue[i])) * factor;
      this.revenue[i] = 0;
    }
  }

  unitsOf(slot: number): bigint {
    return this.unitsBig[slot] + BigInt(this.units[slot]);
  }

  revenueOf(slot: number): bigint {
    return this.revenueBig[slot] + BigInt(this.revenue[slot]);
  }
}
