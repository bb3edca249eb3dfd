/**
 * Keyed cells in columnar form: the per-(key, month) sums of a mart or a dimension as they travel
 * from a worker and sit in the coordinator's spill. A chunk's cells are a run of blocks; each block
 * is self-contained bytes: a key dictionary (UTF-8, ascending by bytes) and typed arrays sorted by
 * (key, month). Money is an integer in the smallest unit of the block's scale, as two 32-bit words
 * while |v| ≤ 2^53, else as decimal digits in the block's wide section. No object per cell.
 *
 * Block layout, little-endian, every section 4-byte aligned from the block's start:
 *   0  u32 magic "SGK1"   4 u8 scale, 3 bytes zero   8 u32 nKeys   12 u32 nCells
 *   16 u32 keyBytes       20 u32 wideBytes
 *   24 u32 keyOffset[nKeys + 1] (0 … keyBytes)      key bytes, zero-padded to 4
 *   u32 cellKey[nCells]  u32 rows[nCells]  u32 unitsLo[nCells]  i32 unitsHi[nCells]
 *   u32 revenueLo[nCells]  i32 revenueHi[nCells]  u16 month[nCells], zero-padded to 4
 *   wide: entries of u32 cell, u8 field (0 units, 1 revenue), u8 length, ASCII "-?[0-9]+"; the
 *   cell's words for that field are zero.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors.js';

export const MAGIC = 0x314b4753; // "SGK1" read as a little-endian u32
export const HEADER_BYTES = 24;
/** Cells per block (about 64 KiB): the final merge holds one block per chunk, so 1,000 chunks fit in 64 MB. */
export const BLOCK_CELLS = 2048;
/** Month index for cells without a month (dimensions, files without dates). */
export const NO_MONTH = 4095;
/** A cell's slot is a u16: a month index (marts, ≤ NO_MONTH) or a day (customer runs, ≤ NO_DAY). */
export const NO_DAY = 65535;
const TWO32 = 4294967296;
const SAFE = 2 ** 53;
const FIELD_UNITS = 0;
const FIELD_REVENUE = 1;

const pad4 = (n: number) => (n + 3) & ~3;

/** Byte order of a[as, ae) against b[bs, be): negative, zero or positive. */
export function compareBytes(
  a: Uint8Array,
  as: number,
  ae: number,
  b: Uint8Array,
  bs: number,
  be: number,
): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = a[as + i] - b[bs + i];
    if (d !== 0) return d;
  }
  return ae - as - (be - bs);
}

/** Builds blocks from cells given in (key, month) order. */
export class KeyedCellsWriter {
  readonly scale: number;
  private readonly maxCells: number;
  private readonly capacity: number;
  private blocks: Uint8Array[] = [];
  private keyBuf = Buffer.allocUnsafe(1 << 16);
  private keyUsed = 0;
  private keyOff: number[] = [0];
  private cellKey = new Uint32Array(0);
  private rows = new Uint32Array(0);
  private uLo = new Uint32Array(0);
  private uHi = new Int32Array(0);
  private rLo = new Uint32Array(0);
  private rHi = new Int32Array(0);
  private month = new Uint16Array(0);
  private wide: [number, number, string][] = [];
  private n = 0;
  /** The current key (bytes), re-entered when a block fills mid-key. */
  private cur: Uint8Array | null = null;
  private curS = 0;
  private curE = 0;
  cells = 0;

  /**
   * `wholeKeys`: a key's cells never straddle two blocks (a block may then hold up to
   * `maxCells + NO_MONTH` cells, since a key has at most NO_MONTH + 1 months).
   */
  constructor(scale: number, maxCells = BLOCK_CELLS, wholeKeys = false) {
    this.scale = scale;
    this.maxCells = maxCells;
    this.capacity = wholeKeys ? maxCells + NO_MONTH + 1 : maxCells;
    this.alloc();
  }

  private alloc(): void {
    const m = this.capacity;
    this.cellKey = new Uint32Array(m);
    this.rows = new Uint32Array(m);
    this.uLo = new Uint32Array(m);
    this.uHi = new Int32Array(m);
    this.rLo = new Uint32Array(m);
    this.rHi = new Int32Array(m);
    this.month = new Uint16Array(m);
  }

  /** Starts the next key, bytes buf[s, e); keys must come in ascending byte order. */
  key(buf: Uint8Array, s: number, e: number): void {
    if (this.n >= this.maxCells) this.flush();
    this.cur = buf;
    this.curS = s;
    this.curE = e;
    this.pushKey();
  }

  private pushKey(): void {
    const buf = this.cur as Uint8Array;
    const len = this.curE - this.curS;
    if (this.keyUsed + len > this.keyBuf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.keyBuf.length * 2, this.keyUsed + len));
      this.keyBuf.copy(grown, 0, 0, this.keyUsed);
      this.keyBuf = grown;
    }
    const kb = this.keyBuf;
    for (let i = 0, at = this.keyUsed, from = this.curS; i < len; i++) kb[at + i] = buf[from + i];
    this.keyUsed += len;
    this.keyOff.push(this.keyUsed);
  }

  /** Adds a cell of the current key; months ascend within a key. Amounts are safe integers. */
  cell(month: number, rows: number, units: number, revenue: number): void {
    const c = this.open(month, rows);
    let h = Math.floor(units / TWO32);
    this.uHi[c] = h;
    this.uLo[c] = units - h * TWO32;
    h = Math.floor(revenue / TWO32);
    this.rHi[c] = h;
    this.rLo[c] = revenue - h * TWO32;
  }

  /** `cell` for amounts that may be past 2^53 (rare). */
  cellBig(month: number, rows: number, units: bigint, revenue: bigint): void {
    const safe = (v: bigint) => v >= -SAFE && v <= SAFE;
    this.cell(month, rows, safe(units) ? Number(units) : 0, safe(revenue) ? Number(revenue) : 0);
    const c = this.n - 1;
    if (!safe(units)) this.wide.push([c, FIELD_UNITS, units.toString()]);
    if (!safe(revenue)) this.wide.push([c, FIELD_REVENUE, revenue.toString()]);
  }

  private open(month: number, rows: number): number {
    if (this.n === this.capacity) {
      this.flush();
      this.pushKey();
    }
    const c = this.n++;
    this.cellKey[c] = this.keyOff.length - 2;
    this.month[c] = month;
    this.rows[c] = rows;
    this.cells++;
    return c;
  }

  private flush(): void {
    if (this.n === 0 && this.keyOff.length === 1) return;
    const nKeys = this.keyOff.length - 1;
    const n = this.n;
    let wideBytes = 0;
    for (const [, , d] of this.wide) wideBytes += 6 + d.length;
    const keyPad = pad4(this.keyUsed);
    const size = HEADER_BYTES + 4 * (nKeys + 1) + keyPad + 24 * n + pad4(2 * n) + pad4(wideBytes);
    const out = new Uint8Array(size);
    const v = new DataView(out.buffer);
    v.setUint32(0, MAGIC, true);
    v.setUint8(4, this.scale);
    v.setUint32(8, nKeys, true);
    v.setUint32(12, n, true);
    v.setUint32(16, this.keyUsed, true);
    v.setUint32(20, wideBytes, true);
    let p = HEADER_BYTES;
    for (const o of this.keyOff) {
      v.setUint32(p, o, true);
      p += 4;
    }
    out.set(this.keyBuf.subarray(0, this.keyUsed), p);
    p += keyPad;
    for (const arr of [this.cellKey, this.rows, this.uLo, this.uHi, this.rLo, this.rHi]) {
      out.set(new Uint8Array(arr.buffer, 0, 4 * n), p);
      p += 4 * n;
    }
    out.set(new Uint8Array(this.month.buffer, 0, 2 * n), p);
    p += pad4(2 * n);
    for (const [c, field, d] of this.wide) {
      v.setUint32(p, c, true);
      v.setUint8(p + 4, field);
      v.setUint8(p + 5, d.length);
      for (let i = 0; i < d.length; i++) out[p + 6 + i] = d.charCodeAt(i);
      p += 6 + d.length;
    }
    this.blocks.push(out);
    this.keyUsed = 0;
    this.keyOff = [0];
    this.wide = [];
    this.n = 0;
  }

  /** The blocks completed so far, handed over (a streaming writer stores them as they fill). */
  take(): Uint8Array[] {
    const done = this.blocks;
    if (done.length > 0) this.blocks = [];
    return done;
  }

  /** The run's blocks (none for no cells). */
  finish(): Uint8Array[] {
    if (this.n > 0) this.flush();
    return this.blocks;
  }
}

function bad(what: string): never {
  throw new ProtocolError(`malformed keyed cells: ${what}`);
}

/**
 * One decoded, validated block. The arrays are views of an aligned copy of the bytes. A wide amount
 * reads as NaN from `units`/`revenue`; `unitsWide`/`revenueWide` give it exactly.
 */
export class CellBlock {
  readonly scale: number;
  readonly nKeys: number;
  readonly nCells: number;
  readonly keys: Uint8Array;
  readonly keyOffset: Uint32Array;
  readonly cellKey: Uint32Array;
  readonly month: Uint16Array;
  readonly rows: Uint32Array;
  private readonly uLo: Uint32Array;
  private readonly uHi: Int32Array;
  private readonly rLo: Uint32Array;
  private readonly rHi: Int32Array;
  private readonly wide: Map<number, bigint> | null;

  /**
   * Validates everything a merge relies on: sizes, key order, (key, month) order, amount ranges.
   * `owned`: the caller hands the bytes over (a fresh SQLite blob), so an aligned block is used in
   * place instead of copied. `trusted`: bytes this coordinator validated before storing them (the
   * spill, the stored marts); only the header, size and wide section are checked again.
   */
  constructor(bytes: Uint8Array, owned = false, trusted = false) {
    if (bytes.length < HEADER_BYTES) bad('short block');
    let copy: Uint8Array;
    if (owned && bytes.byteOffset % 4 === 0) copy = bytes;
    else {
      copy = new Uint8Array(bytes.length);
      copy.set(bytes);
    }
    const base = copy.byteOffset;
    const v = new DataView(copy.buffer, base, copy.length);
    if (v.getUint32(0, true) !== MAGIC) bad('magic');
    const scale = v.getUint8(4);
    if (scale > 9 || copy[5] !== 0 || copy[6] !== 0 || copy[7] !== 0) bad('scale');
    const nKeys = v.getUint32(8, true);
    const n = v.getUint32(12, true);
    const keyBytes = v.getUint32(16, true);
    const wideBytes = v.getUint32(20, true);
    if (nKeys === 0 || n === 0 || nKeys > n) bad('counts');
    const size = HEADER_BYTES + 4 * (nKeys + 1) + pad4(keyBytes) + 24 * n + pad4(2 * n) + pad4(wideBytes);
    if (size !== bytes.length) bad('size');
    this.scale = scale;
    this.nKeys = nKeys;
    this.nCells = n;
    let p = HEADER_BYTES;
    this.keyOffset = new Uint32Array(copy.buffer, base + p, nKeys + 1);
    p += 4 * (nKeys + 1);
    this.keys = new Uint8Array(copy.buffer, base + p, keyBytes);
    p += pad4(keyBytes);
    this.cellKey = new Uint32Array(copy.buffer, base + p, n);
    this.rows = new Uint32Array(copy.buffer, base + p + 4 * n, n);
    this.uLo = new Uint32Array(copy.buffer, base + p + 8 * n, n);
    this.uHi = new Int32Array(copy.buffer, base + p + 12 * n, n);
    this.rLo = new Uint32Array(copy.buffer, base + p + 16 * n, n);
    this.rHi = new Int32Array(copy.buffer, base + p + 20 * n, n);
    p += 24 * n;
    this.month = new Uint16Array(copy.buffer, base + p, n);
    p += pad4(2 * n);
    const off = this.keyOffset;
    if (off[0] !== 0 || off[nKeys] !== keyBytes) bad('key offsets');
    if (!trusted) this.validateCells();
    let wide: Map<number, bigint> | null = null;
    const end = p + wideBytes;
    while (p < end) {
      if (p + 6 > end) bad('wide entry');
      const c = v.getUint32(p, true);
      const field = copy[p + 4];
      const len = copy[p + 5];
      if (c >= n || field > 1 || len === 0 || p + 6 + len > end) bad('wide entry');
      let text = '';
      for (let i = 0; i < len; i++) text += String.fromCharCode(copy[p + 6 + i]);
      if (!/^-?[0-9]{1,80}$/.test(text)) bad('wide digits');
      const words = field === FIELD_UNITS ? this.units(c) : this.revenue(c);
      wide ??= new Map();
      const slot = 2 * c + field;
      if (words !== 0 || wide.has(slot)) bad('wide entry');
      wide.set(slot, BigInt(text));
      p += 6 + len;
    }
    for (; p < copy.length; p++) if (copy[p] !== 0) bad('padding');
    this.wide = wide;
  }

  /** Key order, UTF-8, (key, month) order and amount ranges: what a merge relies on. */
  private validateCells(): void {
    const off = this.keyOffset;
    for (let k = 0; k < this.nKeys; k++) if (off[k + 1] < off[k]) bad('key offsets');
    if (!isUtf8(this.keys)) bad('keys are not UTF-8');
    for (let k = 1; k < this.nKeys; k++) {
      if (compareBytes(this.keys, off[k - 1], off[k], this.keys, off[k], off[k + 1]) >= 0) bad('key order');
    }
    // Every key is used, in order, and months ascend within a key.
    let prevKey = 0;
    let prevMonth = -1;
    for (let c = 0; c < this.nCells; c++) {
      const k = this.cellKey[c];
      const m = this.month[c];
      if (k === prevKey) {
        if (m <= prevMonth) bad('cell order');
      } else if (k !== prevKey + 1 || c === 0) bad('cell order');
      prevKey = k;
      prevMonth = m;
      const uh = this.uHi[c];
      const rh = this.rHi[c];
      // A high word strictly inside ±2^21 keeps the amount strictly inside ±2^53: only the edge
      // words need the exact check.
      if (uh >= 2 ** 21 || uh <= -(2 ** 21) || rh >= 2 ** 21 || rh <= -(2 ** 21)) {
        if (uh > 2 ** 21 || uh < -(2 ** 21) || rh > 2 ** 21 || rh < -(2 ** 21)) bad('amount');
        if (
          this.units(c) > SAFE ||
          this.units(c) < -SAFE ||
          this.revenue(c) > SAFE ||
          this.revenue(c) < -SAFE
        )
          bad('amount');
      }
    }
    if (this.cellKey[0] !== 0 || prevKey !== this.nKeys - 1) bad('unused key');
  }

  keyStart(k: number): number {
    return this.keyOffset[k];
  }

  keyEnd(k: number): number {
    return this.keyOffset[k + 1];
  }

  keyText(k: number): string {
    this.keyBuf ??= Buffer.from(this.keys.buffer, this.keys.byteOffset, this.keys.length);
    return this.keyBuf.toString('utf8', this.keyOffset[k], this.keyOffset[k + 1]);
  }

  private keyBuf: Buffer | null = null;

  /** Units of cell c as a safe integer, or NaN when wide. */
  units(c: number): number {
    if (this.wide?.has(2 * c + FIELD_UNITS)) return Number.NaN;
    return this.uHi[c] * TWO32 + this.uLo[c];
  }

  revenue(c: number): number {
    if (this.wide?.has(2 * c + FIELD_REVENUE)) return Number.NaN;
    return this.rHi[c] * TWO32 + this.rLo[c];
  }

  unitsBig(c: number): bigint {
    return this.wide?.get(2 * c + FIELD_UNITS) ?? BigInt(this.units(c));
  }

  revenueBig(c: number): bigint {
    return this.wide?.get(2 * c + FIELD_REVENUE) ?? BigInt(this.revenue(c));
  }
}

export type KeyedRunKind = 'mart' | 'dim' | 'cust' | 'basket';

/** A chunk's keyed cells for one mart, dimension, customer or basket run, as it travels and is stored. */
export interface KeyedRun {
  /** `cust`: the runs behind the customers table (worker/customer-cells.ts), slots are days. */
  kind: KeyedRunKind;
  name: string;
  blocks: Uint8Array[];
}

/**
 * Validates a run from the wire: each block, and (key, month) strictly ascending across blocks.
 * `maxKeys` bounds the keys of one chunk.
 */
/**
 * Two scratch buffers for validating a run's blocks (the current one and the one before it): a
 * block inside a received frame is rarely 4-byte aligned, and a fresh copy per block was garbage
 * outside V8's heap, megabytes per result, that the coordinator's RSS carried until a collection.
 */
const scratch: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];

/** The bytes themselves when 4-byte aligned, else a copy in scratch buffer i (valid until its next use). */
function aligned(i: number, bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset % 4 === 0) return bytes;
  if (scratch[i].length < bytes.length)
    scratch[i] = new Uint8Array(Math.max(bytes.length, 2 * scratch[i].length));
  const s = scratch[i].subarray(0, bytes.length);
  s.set(bytes);
  return s;
}

export function validateRun(raw: unknown, maxKeys: number): KeyedRun {
  if (raw === null || typeof raw !== 'object') bad('run');
  const r = raw as Record<string, unknown>;
  if (
    (r.kind !== 'mart' && r.kind !== 'dim' && r.kind !== 'cust' && r.kind !== 'basket') ||
    typeof r.name !== 'string' ||
    r.name.length > 4096
  )
    bad('run');
  if (!Array.isArray(r.blocks) || !r.blocks.every((b) => b instanceof Uint8Array)) bad('blocks');
  let prev: CellBlock | null = null;
  let keys = 0;
  let scale = -1;
  let n = 0;
  for (const bytes of r.blocks as Uint8Array[]) {
    const b = new CellBlock(aligned(n++ & 1, bytes), true);
    if (scale >= 0 && b.scale !== scale) bad('scale differs between blocks');
    scale = b.scale;
    if (r.kind === 'dim')
      for (let c = 0; c < b.nCells; c++) if (b.month[c] !== NO_MONTH) bad('dimension month');
    if (r.kind === 'mart') for (let c = 0; c < b.nCells; c++) if (b.month[c] > NO_MONTH) bad('month');
    if (prev !== null) {
      const pk = prev.nKeys - 1;
      const cmp = compareBytes(
        prev.keys,
        prev.keyStart(pk),
        prev.keyEnd(pk),
        b.keys,
        b.keyStart(0),
        b.keyEnd(0),
      );
      if (cmp > 0 || (cmp === 0 && prev.month[prev.nCells - 1] >= b.month[0])) bad('order across blocks');
      keys += cmp === 0 ? b.nKeys - 1 : b.nKeys;
    } else keys += b.nKeys;
    prev = b;
  }
  if (keys > maxKeys) bad(`more than ${maxKeys} keys in one chunk`);
  return { kind: r.kind, name: r.name, blocks: r.blocks as Uint8Array[] };
}
