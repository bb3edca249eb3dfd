/**
 * A worker's dimension tables (`--join`): assembled from the `join` frames of a session, kept as
 * a compact lookup (key bytes → row, open addressing over the decoded block, no string per key),
 * and probed once per counted row. `JoinProbe` is a chunk's view: the current record's row in
 * each table, the key slots of joined dimensions and marts, and the fact keys with no match,
 * which go back as keyed-cell runs so their distinct count is exact across chunks.
 */

import type { KeyedRun } from '../aggregate/keyed-cells.js';
import { ProtocolError } from '../errors.js';
import { decodeJoinTable, type JoinTableData, unmatchedRunName } from '../protocol/join-codec.js';
import type { JoinRef } from '../scan-spec.js';
import { encodeDimension } from './cell-table.js';
import { KeyTable } from './key-table.js';
import { ESCAPED, type Fields, fieldText } from './tokenizer.js';

/** The value a joined dimension or mart counts a fact row under when its key has no match. */
export const NO_MATCH = '(no match)';
const NO_MATCH_BYTES = Buffer.from(NO_MATCH, 'utf8');

/** KeyTable's hash: FNV-style over 4-byte words (`view` reads the same bytes as `buf`), then a finalizer. */
export function hashBytes(buf: Uint8Array, view: DataView, s: number, e: number): number {
  let h = 0x811c9dc5 ^ (e - s);
  let i = s;
  for (; i + 4 <= e; i += 4) h = Math.imul(h ^ view.getUint32(i, true), 0x01000193);
  for (; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class JoinTable {
  readonly data: JoinTableData;
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(data: JoinTableData) {
    this.data = data;
    const n = data.keys.offsets.length - 1;
    let size = 16;
    while (size < n * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    const { bytes, offsets } = data.keys;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let r = 0; r < n; r++) {
      const s = offsets[r];
      const e = offsets[r + 1];
      let p = hashBytes(bytes, view, s, e) & this.mask;
      for (;;) {
        const v = this.slots[p];
        if (v === 0) break;
        if (this.equals(v - 1, bytes, s, e))
          throw new ProtocolError(`malformed join table: duplicate key in ${data.name}`);
        p = (p + 1) & this.mask;
      }
      this.slots[p] = r + 1;
    }
  }

  get rows(): number {
    return this.data.keys.offsets.length - 1;
  }

  /** The row whose key is buf[s, e), or -1; `view` reads the same bytes as `buf`. */
  lookup(
    buf: Uint8Array,
    s: number,
    e: number,
    view = new DataView(buf.buffer, buf.byteOffset, buf.length),
  ): number {
    let p = hashBytes(buf, view, s, e) & this.mask;
    for (;;) {
      const v = this.slots[p];
      if (v === 0) return -1;
      if (this.equals(v - 1, buf, s, e)) return v - 1;
      p = (p + 1) & this.mask;
    }
  }

  private equals(row: number, buf: Uint8Array, s: number, e: number): boolean {
    const { bytes, offsets } = this.data.keys;
    const ks = offsets[row];
    if (offsets[row + 1] - ks !== e - s) return false;
    for (let i = 0; i < e - s; i++) if (bytes[ks + i] !== buf[s + i]) return false;
    return true;
  }
}

/** Collects a session's `join` frames in order; `tables` is set once every table has arrived. */
export class JoinAssembler {
  private readonly refs: JoinRef[];
  private readonly maxBytes: number;
  private current = 0;
  private buf: Uint8Array | null = null;
  private filled = 0;
  private seq = 0;
  private readonly done: JoinTable[] = [];

  constructor(refs: JoinRef[], maxBytes: number) {
    this.refs = refs;
    this.maxBytes = maxBytes;
  }

  /** The tables, once all arrived; [] when the run has none. */
  get tables(): JoinTable[] | null {
    return this.done.length === this.refs.length ? this.done : null;
  }

  add(name: string, seq: number, data: Uint8Array): void {
    const ref = this.refs[this.current];
    if (ref === undefined || ref.name !== name || seq !== this.seq)
      throw new ProtocolError(`unexpected join frame ${name}#${seq}`);
    if (ref.bytes > this.maxBytes) throw new ProtocolError(`join table ${name} is over the size limit`);
    if (this.buf === null) this.buf = new Uint8Array(ref.bytes);
    if (this.filled + data.length > ref.bytes)
      throw new ProtocolError(`join table ${name} is longer than announced`);
    this.buf.set(data, this.filled);
    this.filled += data.length;
    this.seq++;
    if (this.filled < ref.bytes) return;
    const table = new JoinTable(decodeJoinTable(this.buf, this.maxBytes));
    if (table.data.name !== ref.name)
      throw new ProtocolError(`join table ${name} names itself ${table.data.name}`);
    this.done.push(table);
    this.current++;
    this.buf = null;
    this.filled = 0;
    this.seq = 0;
  }
}

/** One chunk's probes: which row of each table the current record joins, and the unmatched keys. */
export class JoinProbe {
  private readonly tables: JoinTable[];
  private readonly factIndex: Int32Array;
  /** The current record's row in each table, or -1. */
  readonly row: Int32Array;
  private readonly unmatched: KeyTable[];
  private readonly useJoin: number[] = [];
  private readonly useAttr: number[] = [];
  /** Per use: value id → key slot in that use's KeyTable (-1: not yet interned). */
  private readonly cache: Int32Array[] = [];
  private readonly noMatchSlot: number[] = [];

  constructor(tables: JoinTable[], refs: JoinRef[], maxKeys: number) {
    this.tables = tables;
    this.factIndex = Int32Array.from(refs.map((r) => r.index));
    this.row = new Int32Array(tables.length);
    this.unmatched = refs.map((r) => new KeyTable(`${r.name} (unmatched keys)`, maxKeys));
  }

  /** Registers a joined dimension or mart column; returns the id `slot` takes. */
  use(join: number, attr: number): number {
    this.useJoin.push(join);
    this.useAttr.push(attr);
    this.cache.push(new Int32Array(this.tables[join].data.values[attr].offsets.length - 1).fill(-1));
    this.noMatchSlot.push(-1);
    return this.useJoin.length - 1;
  }

  /** Looks the current record's fact keys up in every table; an unmatched key is tallied. */
  probe(buf: Uint8Array, view: DataView, fields: Fields): void {
    for (let j = 0; j < this.tables.length; j++) {
      const f = this.factIndex[j];
      let v = view;
      let b = buf;
      let s = fields.start[f];
      let e = fields.end[f];
      if (fields.flag[f] === ESCAPED) {
        b = Buffer.from(fieldText(buf, s, e, ESCAPED), 'utf8');
        v = new DataView(b.buffer, b.byteOffset, b.length);
        s = 0;
        e = b.length;
      }
      const r = this.tables[j].lookup(b, s, e, v);
      this.row[j] = r;
      if (r < 0) {
        const t = this.unmatched[j];
        t.add(t.slot(b, s, e, v), 0, 0);
      }
    }
  }

  /** The slot in `keys` of use `u`'s attribute value for the current record ("(no match)" when none). */
  slot(u: number, keys: KeyTable): number {
    const r = this.row[this.useJoin[u]];
    if (r < 0) {
      let s = this.noMatchSlot[u];
      if (s < 0) this.noMatchSlot[u] = s = keys.slot(NO_MATCH_BYTES, 0, NO_MATCH_BYTES.length);
      return s;
    }
    const t = this.tables[this.useJoin[u]].data;
    const a = this.useAttr[u];
    const v = t.ids[a][r];
    const cache = this.cache[u];
    let s = cache[v];
    if (s < 0) {
      const { bytes, offsets } = t.values[a];
      cache[v] = s = keys.slot(bytes, offsets[v], offsets[v + 1]);
    }
    return s;
  }

  /** Each join's unmatched fact keys with their row counts, as keyed-cell runs. */
  runs(scale: number): KeyedRun[] {
    return this.unmatched.map((t, j) => ({
      ...encodeDimension(t, scale),
      name: unmatchedRunName(this.tables[j].data.name),
    }));
  }
}
