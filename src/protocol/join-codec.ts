/**
 * A dimension table (`--join`) as it travels to a worker once per session: one self-contained
 * binary block, cut into parts under the frame limit. Keys and attribute values are UTF-8; each
 * attribute is a dictionary of distinct values plus one value id per row, so a city repeated on a
 * million rows costs four bytes a row. Pure: no I/O.
 *
 * Layout, little-endian, every section 4-byte aligned from the block's start:
 *   0  u32 magic "SGJ1"   4 u32 nRows   8 u32 nAttrs   12 u32 totalBytes (this block's length)
 *   16 strings name, keyColumn, attrs[nAttrs]: each u32 byteLength then the bytes, zero-padded to 4
 *   keys: u32 offset[nRows + 1] (0 … keyBytes), key bytes, zero-padded to 4
 *   per attribute: u32 nValues, u32 offset[nValues + 1], value bytes zero-padded to 4, u32 id[nRows]
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors.js';

export const JOIN_MAGIC = 0x314a4753; // "SGJ1" read as a little-endian u32
/** Rows and attribute columns a table may have (a 64 MiB CSV has fewer rows than this). */
export const MAX_JOIN_ROWS = 1 << 26;
export const MAX_JOIN_ATTRS = 1024;
const MAX_NAME_BYTES = 4096;
/** Bytes of table per `join` frame: far under the 64 MiB frame limit, and a socket drains it quickly. */
export const JOIN_PART_BYTES = 4 * 1024 * 1024;
/** Most encoded bytes a worker accepts for one table (the coordinator caps the CSV far lower: `--max-join-bytes`). */
export const MAX_JOIN_WIRE_BYTES = 2 ** 31 - 1;

/** A column of interned strings: value v is bytes[offsets[v], offsets[v + 1]). */
export interface StringColumn {
  bytes: Uint8Array;
  offsets: Uint32Array;
}

export interface JoinTableData {
  /** The join's name (the file's base name without extension). */
  name: string;
  keyColumn: string;
  /** The non-key columns, in file order. */
  attrs: string[];
  /** Row r's key. */
  keys: StringColumn;
  /** Per attribute: its distinct values. */
  values: StringColumn[];
  /** Per attribute: row → value id. */
  ids: Uint32Array[];
}

const pad4 = (n: number) => (n + 3) & ~3;
const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });

function bad(what: string): never {
  throw new ProtocolError(`malformed join table: ${what}`);
}

export function encodeJoinTable(t: JoinTableData): Uint8Array {
  const nRows = t.keys.offsets.length - 1;
  const names = [t.name, t.keyColumn, ...t.attrs].map((s) => utf8.encode(s));
  let size = 16;
  for (const n of names) size += 4 + pad4(n.length);
  size += 4 * (nRows + 1) + pad4(t.keys.offsets[nRows]);
  t.values.forEach((v, a) => {
    const nValues = v.offsets.length - 1;
    size += 4 + 4 * (nValues + 1) + pad4(v.offsets[nValues]) + 4 * t.ids[a].length;
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (v: number) => {
    view.setUint32(at, v, true);
    at += 4;
  };
  const raw = (b: Uint8Array) => {
    out.set(b, at);
    at += pad4(b.length);
  };
  const words = (a: Uint32Array) => {
    for (let i = 0; i < a.length; i++) u32(a[i]);
  };
  u32(JOIN_MAGIC);
  u32(nRows);
  u32(t.attrs.length);
  u32(size);
  for (const n of names) {
    u32(n.length);
    raw(n);
  }
  words(t.keys.offsets);
  raw(t.keys.bytes.subarray(0, t.keys.offsets[nRows]));
  t.values.forEach((v, a) => {
    u32(v.offsets.length - 1);
    words(v.offsets);
    raw(v.bytes.subarray(0, v.offsets[v.offsets.length - 1]));
    words(t.ids[a]);
  });
  return out;
}

/**
 * Decodes and checks a table: sizes against `maxBytes`, offsets, value ids, UTF-8. Views point
 * into `bytes` (copied once if it is not 4-byte aligned). Duplicate keys are found by the
 * worker's lookup (join-table.ts), which hashes every key anyway.
 */
export function decodeJoinTable(input: Uint8Array, maxBytes: number): JoinTableData {
  if (input.length > maxBytes) bad(`${input.length} bytes, over the ${maxBytes}-byte limit`);
  if (input.length < 16 || input.length % 4 !== 0) bad('length');
  const bytes = input.byteOffset % 4 === 0 ? input : input.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  const u32 = () => {
    if (at + 4 > bytes.length) bad('truncated');
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const words = (n: number) => {
    if (at + 4 * n > bytes.length) bad('truncated');
    const a = new Uint32Array(bytes.buffer, bytes.byteOffset + at, n);
    at += 4 * n;
    return a;
  };
  const column = (n: number, what: string): StringColumn => {
    const offsets = words(n + 1);
    if (offsets[0] !== 0) bad(`${what} offsets`);
    for (let i = 0; i < n; i++) if (offsets[i + 1] < offsets[i]) bad(`${what} offsets`);
    const len = offsets[n];
    if (at + pad4(len) > bytes.length) bad('truncated');
    const b = bytes.subarray(at, at + len);
    if (!isUtf8(b)) bad(`${what} is not UTF-8`);
    at += pad4(len);
    return { bytes: b, offsets };
  };
  const string = () => {
    const n = u32();
    if (n > MAX_NAME_BYTES || at + pad4(n) > bytes.length) bad('name');
    let s: string;
    try {
      s = text.decode(bytes.subarray(at, at + n));
    } catch {
      bad('name is not UTF-8');
    }
    at += pad4(n);
    return s;
  };
  if (u32() !== JOIN_MAGIC) bad('magic');
  const nRows = u32();
  const nAttrs = u32();
  if (nRows > MAX_JOIN_ROWS) bad(`more than ${MAX_JOIN_ROWS} rows`);
  if (nAttrs > MAX_JOIN_ATTRS) bad(`more than ${MAX_JOIN_ATTRS} columns`);
  if (u32() !== bytes.length) bad('total length');
  const name = string();
  const keyColumn = string();
  const attrs: string[] = [];
  for (let a = 0; a < nAttrs; a++) attrs.push(string());
  const keys = column(nRows, 'key');
  const values: StringColumn[] = [];
  const ids: Uint32Array[] = [];
  for (let a = 0; a < nAttrs; a++) {
    const nValues = u32();
    if (nValues > nRows) bad('more values than rows');
    values.push(column(nValues, 'value'));
    const col = words(nRows);
    for (let r = 0; r < nRows; r++) if (col[r] >= nValues) bad('value id');
    ids.push(col);
  }
  if (at !== bytes.length) bad('trailing bytes');
  return { name, keyColumn, attrs, keys, values, ids };
}

/** The block cut into parts of at most `partBytes` (views, not copies). */
export function splitParts(bytes: Uint8Array, partBytes = JOIN_PART_BYTES): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += partBytes)
    parts.push(bytes.subarray(at, Math.min(bytes.length, at + partBytes)));
  return parts;
}

/** The name of the keyed-cell run holding a join's unmatched fact keys (a dimension name no header can hold). */
export function unmatchedRunName(join: string): string {
  return `\u0001unmatched:${join}`;
}
