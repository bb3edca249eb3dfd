/**
 * A chunk's order ids. While each new order's id is greater (shortlex: shorter first, then bytes)
 * than the one before, ids are only appended: a repeat is impossible, so nothing is hashed. At the
 * first id that is not greater, every id so far goes into a KeyTable and lookups hash from then on.
 */
import { isUtf8 } from 'node:buffer';
import { compareBytes } from '../aggregate/keyed-cells.js';
import { KeyTable } from './key-table.js';

/** The last chunk's arrays: parsing is synchronous, so the next chunk reuses them. */
const spare = {
  bytes: Buffer.allocUnsafe(1 << 16),
  starts: new Int32Array(1024),
  ends: new Int32Array(1024),
};

export class OrderIds {
  private bytes = spare.bytes;
  private used = 0;
  private starts = spare.starts;
  private ends = spare.ends;
  private count = 0;
  private table: KeyTable | null = null;
  private readonly maxKeys: number;

  constructor(maxKeys: number) {
    this.maxKeys = maxKeys;
  }

  /** Whether every id so far came in ascending (shortlex) order. */
  get ascending(): boolean {
    return this.table === null;
  }

  get size(): number {
    return this.table?.size ?? this.count;
  }

  get keyBytes(): Buffer {
    return this.table?.keyBytes ?? this.bytes;
  }

  keyStart(slot: number): number {
    return this.table === null ? this.starts[slot] : this.table.keyStart(slot);
  }

  keyEnd(slot: number): number {
    return this.table === null ? this.ends[slot] : this.table.keyEnd(slot);
  }

  /** The slot of the id buf[s, e) that starts a new piece of rows (a different id from the row before). */
  slot(buf: Uint8Array, s: number, e: number, view: DataView): number {
    if (this.table !== null) return this.table.slot(buf, s, e, view);
    const n = this.count;
    let bits = 0;
    for (let k = s; k < e; k++) bits |= buf[k];
    // The table stores bytes that are not UTF-8 in their replacement form.
    const bad = bits >= 0x80 && !isUtf8(buf.subarray(s, e));
    if (n > 0 || bad) {
      const ps = this.starts[n - 1];
      const pe = this.ends[n - 1];
      const d = n === 0 ? 0 : e - s - (pe - ps) || compareBytes(buf, s, e, this.bytes, ps, pe);
      if (d <= 0 || bad) {
        this.index();
        return (this.table as unknown as KeyTable).slot(buf, s, e, view);
      }
    }
    return this.append(buf, s, e);
  }

  private append(buf: Uint8Array, s: number, e: number): number {
    const len = e - s;
    if (this.used + len > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + len));
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
      spare.bytes = grown;
    }
    if (this.count === this.starts.length) {
      const st = new Int32Array(this.count * 2);
      st.set(this.starts);
      this.starts = st;
      const en = new Int32Array(this.count * 2);
      en.set(this.ends);
      this.ends = en;
      spare.starts = st;
      spare.ends = en;
    }
    const b = this.bytes;
    for (let i = 0, at = this.used; i < len; i++) b[at + i] = buf[s + i];
    const slot = this.count++;
    this.starts[slot] = this.used;
    this.used += len;
    this.ends[slot] = this.used;
    return slot;
  }

  /** Moves every id so far into a hash table, keeping their slots. */
  private index(): void {
    const t = new KeyTable('order', this.maxKeys);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
    for (let k = 0; k < this.count; k++) t.slot(this.bytes, this.starts[k], this.ends[k], view);
    this.table = t;
  }

  /** Slots in ascending byte order of their ids. */
  sortedSlots(): Uint32Array {
    if (this.table !== null) return this.table.sortedSlots();
    const out = new Uint32Array(this.count);
    for (let k = 0; k < this.count; k++) out[k] = k;
    const b = this.bytes;
    return out.sort((x, y) => compareBytes(b, this.starts[x], this.ends[x], b, this.starts[y], this.ends[y]));
  }
}
