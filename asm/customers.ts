// The customers' `days` run on the WASM parse path (src/worker/customer-cells.ts has the JS one):
// per counted row, the customer's key slot (the customer mart's, or a table of its own after the
// dimensions and marts) and a (slot, day) cell in the cell table after the marts' (rows, units,
// revenue). Key bytes that the JS path would rewrite (a NUL in a customer id, invalid UTF-8 in a
// mart or customer key) send the row to JS instead (keyBytesOk).
import { cellOf, newCells, newTable, slotOf } from './keys';

/** The day slot of a row without a date, or past 2079-06-05 (as NO_DAY in keyed-cells.ts). */
const NO_DAY: u32 = 65535;

let custCol: i32 = -1;
let custTable: i32 = -1;
let custCells: i32 = -1;
let ownTable = false;

/**
 * Customer column `col` (< 0: none), its key table and its cell table (the one after the marts').
 * `own`: the table is the customers' own (else the customer mart's, whose slot count() passes in).
 */
export function setCustomer(col: i32, table: i32, cells: i32, own: i32): void {
  custCol = col;
  custTable = table;
  custCells = cells;
  ownTable = own != 0;
}

@inline
export function customerOn(): bool {
  return custCol >= 0;
}

/** The customer mart's key table, or -1 (no customers, or they have their own). */
@inline
export function customerMartTable(): i32 {
  return custCol >= 0 && !ownTable ? custTable : -1;
}

export function customerCol(): i32 {
  return custCol;
}

/** The chunk's customer tables, with room for `cap` keys and cells. */
export function newCustomerTables(cap: u32): void {
  if (custCol < 0) return;
  if (ownTable) newTable(custTable, cap);
  newCells(custCells, cap);
}

export function customerCells(): i32 {
  return custCells;
}

export function customerTable(): i32 {
  return custTable;
}

/**
 * Counts a row for its customer: key bytes [s, e) of the chunk, `martSlot` its slot in the
 * customer mart's table (when shared), `month` < 0 without a date, `day` the date's day number.
 * Returns the cell's address, or 0 when the customers' own table is past maxKeys.
 */
export function customerCell(s: usize, e: usize, martSlot: i32, month: i32, day: i32): usize {
  let slot = martSlot;
  if (ownTable) {
    slot = slotOf(custTable, s, e);
    if (slot < 0) return 0;
  }
  const d: u32 = month >= 0 && <u32>day < NO_DAY ? <u32>day : NO_DAY;
  return cellOf(custCells, <u32>slot, d);
}

/**
 * True when key bytes [p, e) are valid UTF-8 (as Node's isUtf8: no overlongs, surrogates or code
 * points past U+10FFFF) and, with `noNul`, hold no NUL byte. ASCII goes eight bytes at a time.
 */
export function keyBytesOk(p: usize, e: usize, noNul: bool): bool {
  while (p + 8 <= e) {
    const w = load<u64>(p);
    if ((w & 0x8080808080808080) != 0) break;
    if (noNul && ((w - 0x0101010101010101) & ~w & 0x8080808080808080) != 0) return false;
    p += 8;
  }
  while (p < e) {
    const b = <u32>load<u8>(p);
    if (b < 0x80) {
      if (b == 0 && noNul) return false;
      p++;
      continue;
    }
    let need: usize;
    let lo: u32 = 0x80;
    let hi: u32 = 0xbf;
    if (b < 0xc2) return false;
    if (b < 0xe0) need = 1;
    else if (b < 0xf0) {
      need = 2;
      if (b == 0xe0) lo = 0xa0;
      else if (b == 0xed) hi = 0x9f;
    } else if (b < 0xf5) {
      need = 3;
      if (b == 0xf0) lo = 0x90;
      else if (b == 0xf4) hi = 0x8f;
    } else return false;
    if (p + need >= e) return false;
    const c1 = <u32>load<u8>(p + 1);
    if (c1 < lo || c1 > hi) return false;
    for (let i: usize = 2; i <= need; i++) {
      const c = <u32>load<u8>(p + i);
      if (c < 0x80 || c > 0xbf) return false;
    }
    p += need + 1;
  }
  return true;
}
