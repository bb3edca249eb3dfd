/**
 * Byte strings interned into ids in arrival order, in typed arrays only (about 16 bytes per
 * distinct value plus its bytes): the coordinator's dictionaries while it loads a `--join` table.
 * `GrowU32` is the growable array of ids beside it.
 */

import type { StringColumn } from '../protocol/join-codec.js';
import { hashBytes } from '../worker/join-table.js';

export class GrowU32 {
  data = new Uint32Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Uint32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  get(i: number): number {
    return this.data[i];
  }

  /** The values, trimmed (a copy). */
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

export class Interner {
  private bytes = Buffer.allocUnsafe(4096);
  private used = 0;
  private readonly ends = new GrowU32();
  private readonly hashes = new GrowU32();
  private slots = new Int32Array(1024);
  private mask = 1023;

  get size(): number {
    return this.ends.length;
  }

  private start(id: number): number {
    return id === 0 ? 0 : this.ends.get(id - 1);
  }

  /** The id of buf[s, e) (`view` reads the same bytes), a new one if it is new. */
  intern(buf: Uint8Array, view: DataView, s: number, e: number): number {
    const h = hashBytes(buf, view, s, e);
    let p = h & this.mask;
    for (;;) {
      const v = this.slots[p];
      if (v === 0) break;
      const id = v - 1;
      if (this.hashes.get(id) === h >>> 0 && this.same(id, buf, s, e)) return id;
      p = (p + 1) & this.mask;
    }
    const len = e - s;
    if (this.used + len > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + len));
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    this.bytes.set(buf.subarray(s, e), this.used);
    this.used += len;
    const id = this.ends.length;
    this.ends.push(this.used);
    this.hashes.push(h >>> 0);
    this.slots[p] = id + 1;
    if (this.ends.length * 2 > this.mask) this.grow();
    return id;
  }

  text(id: number): string {
    return this.bytes.toString('utf8', this.start(id), this.ends.get(id));
  }

  /** The values in id order. */
  column(): StringColumn {
    const offsets = new Uint32Array(this.size + 1);
    offsets.set(this.ends.data.subarray(0, this.size), 1);
    return { bytes: this.bytes.subarray(0, this.used), offsets };
  }

  private same(id: number, buf: Uint8Array, s: number, e: number): boolean {
    const a = this.start(id);
    if (this.ends.get(id) - a !== e - s) return false;
    for (let i = 0; i < e - s; i++) if (this.bytes[a + i] !== buf[s + i]) return false;
    return true;
  }

  private grow(): void {
    const size = (this.mask + 1) * 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let id = 0; id < this.ends.length; id++) {
      let p = this.hashes.get(id) & this.mask;
      while (this.slots[p] !== 0) p = (p + 1) & this.mask;
      this.slots[p] = id + 1;
    }
  }
}
