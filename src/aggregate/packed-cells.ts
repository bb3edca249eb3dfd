/**
 * The stored form of a mart's blocks (`mart_blocks`): an SGK1 block (keyed-cells.ts) whose cell
 * columns are each written at the narrowest width that holds every value of the column in that
 * block: 0 (all zero), 1, 2 or 4 bytes. A 1M-customer mart's high words are zero, its rows and
 * units fit a byte and its key numbers two, so a cell takes ~10 bytes instead of 26.
 *
 * Layout, little-endian: the SGK1 header with magic "SGK2", the same key offsets and key bytes
 * (so a block's first key reads the same in both forms), then u8 widths[8] (cellKey, rows,
 * unitsLo, unitsHi, revenueLo, revenueHi, month, 0), then each column's values at its width,
 * zero-padded to 4, then the SGK1 wide section unchanged. Signed words are stored as their
 * 32-bit patterns. Pure: bytes in, bytes out.
 */
import { ProtocolError } from '../errors.js';
import { HEADER_BYTES, MAGIC } from './keyed-cells.js';

export const PACKED_MAGIC = 0x324b4753; // "SGK2" read as a little-endian u32
/** The SGK1 u32 columns in order, then the u16 month column. */
const U32_COLUMNS = 6;
const WIDTHS_BYTES = 8;
/** More cells than any writer puts in one block (a mart's hold 8,192 plus a key's months). */
const MAX_CELLS = 1 << 20;

const pad4 = (n: number) => (n + 3) & ~3;

function bad(what: string): never {
  throw new ProtocolError(`malformed packed cells: ${what}`);
}

const widthOf = (max: number): number => (max === 0 ? 0 : max < 0x100 ? 1 : max < 0x10000 ? 2 : 4);

/** Where an SGK1 block's sections start (cells: its first column), and its size, from its header. */
function layout(v: DataView) {
  const nKeys = v.getUint32(8, true);
  const n = v.getUint32(12, true);
  const keyBytes = v.getUint32(16, true);
  const wideBytes = v.getUint32(20, true);
  const cells = HEADER_BYTES + 4 * (nKeys + 1) + pad4(keyBytes);
  const monthAt = cells + 4 * U32_COLUMNS * n;
  const wideAt = monthAt + pad4(2 * n);
  return { n, wideBytes, cells, monthAt, wideAt, size: wideAt + pad4(wideBytes) };
}

/** The bytes at a 4-aligned offset in memory (a copy only when they are not). */
function aligned(b: Uint8Array): Uint8Array {
  if (b.byteOffset % 4 === 0) return b;
  const c = new Uint8Array(b.byteLength);
  c.set(b);
  return c;
}

/** A column's n values at width w (1, 2 or 4) starting at byte p of buf (4-aligned). */
function view(buf: Uint8Array, p: number, w: number, n: number): Uint8Array | Uint16Array | Uint32Array {
  const at = buf.byteOffset + p;
  return w === 1
    ? new Uint8Array(buf.buffer, at, n)
    : w === 2
      ? new Uint16Array(buf.buffer, at, n)
      : new Uint32Array(buf.buffer, at, n);
}

/** The seven cell columns of an SGK1 block laid out as `l` in buf: six of u32, then the u16 month. */
function columnsOf(buf: Uint8Array, l: ReturnType<typeof layout>): (Uint32Array | Uint16Array)[] {
  const out: (Uint32Array | Uint16Array)[] = [];
  for (let c = 0; c < U32_COLUMNS; c++) out.push(view(buf, l.cells + 4 * c * l.n, 4, l.n) as Uint32Array);
  out.push(view(buf, l.monthAt, 2, l.n) as Uint16Array);
  return out;
}

/** Bytes of the packed form of a block laid out as `l`, its columns at `widths`. */
function packedSize(l: ReturnType<typeof layout>, widths: ArrayLike<number>): number {
  let size = l.cells + WIDTHS_BYTES + pad4(l.wideBytes);
  for (let c = 0; c <= U32_COLUMNS; c++) size += pad4(widths[c] * l.n);
  return size;
}

/**
 * Packs an SGK1 block this process wrote (trusted: only its header and size are read); a block
 * already packed (by the merge child) is returned as it is.
 */
export function packBlock(sgk1: Uint8Array): Uint8Array {
  const block = aligned(sgk1);
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const magic = v.getUint32(0, true);
  if (magic === PACKED_MAGIC) return sgk1;
  if (magic !== MAGIC) bad('not an SGK1 block');
  const l = layout(v);
  const { n, wideBytes, cells } = l;
  if (l.size !== block.byteLength) bad('SGK1 size');
  const columns = columnsOf(block, l);
  const widths = columns.map((col) => {
    let max = 0;
    for (let i = 0; i < n; i++) if (col[i] > max) max = col[i];
    return widthOf(max);
  });

  const out = new Uint8Array(packedSize(l, widths));
  out.set(block.subarray(0, cells));
  new DataView(out.buffer).setUint32(0, PACKED_MAGIC, true);
  out.set(widths, cells);
  let p = cells + WIDTHS_BYTES;
  columns.forEach((col, c) => {
    const w = widths[c];
    if (w > 0) view(out, p, w, n).set(col);
    p += pad4(w * n);
  });
  out.set(block.subarray(l.wideAt, l.wideAt + wideBytes), p);
  return out;
}

/**
 * The SGK1 block behind stored bytes: SGK2 is unpacked into a fresh buffer; SGK1 (a database
 * written before packing) is returned as it is.
 */
export function unpackBlock(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength < HEADER_BYTES) bad('short block');
  const stored = aligned(bytes);
  const v = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const magic = v.getUint32(0, true);
  if (magic === MAGIC) return bytes;
  if (magic !== PACKED_MAGIC) bad('magic');
  const l = layout(v);
  const { n, wideBytes, cells } = l;
  // Columns of width 0 take no bytes, so the size alone does not bound n.
  if (n > MAX_CELLS) bad('counts');
  if (cells + WIDTHS_BYTES > stored.byteLength) bad('size');
  const widths = stored.subarray(cells, cells + WIDTHS_BYTES);
  for (let c = 0; c <= U32_COLUMNS; c++) {
    const w = widths[c];
    if (w !== 0 && w !== 1 && w !== 2 && w !== 4) bad('column width');
  }
  if (widths[U32_COLUMNS] === 4 || widths[U32_COLUMNS + 1] !== 0) bad('column width');
  if (packedSize(l, widths) !== stored.byteLength) bad('size');

  const out = new Uint8Array(l.size);
  out.set(stored.subarray(0, cells));
  new DataView(out.buffer).setUint32(0, MAGIC, true);
  let p = cells + WIDTHS_BYTES;
  columnsOf(out, l).forEach((to, c) => {
    const w = widths[c];
    if (w > 0) to.set(view(stored, p, w, n));
    p += pad4(w * n);
  });
  out.set(stored.subarray(p, p + wideBytes), l.wideAt);
  return out;
}
