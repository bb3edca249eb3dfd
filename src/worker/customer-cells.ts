/**
 * A chunk's per-customer cells, encoded as keyed-cell runs of kind `cust` so they travel, spill and
 * merge exactly like marts (exactly once with the chunk). The runs, all sorted by key bytes:
 *   days             key customer, slot = day since 1900-01-01 (NO_DAY: no date): rows, units, revenue
 *   orders           key customer NUL order (only with an order column): one key per distinct order
 *   categories       key customer NUL category: revenue per category
 *   category-totals  key category: revenue per category over all customers (picks the top ones)
 * NUL sorts below every other byte, so the composite keys come in the customers' own order.
 *
 * Per row the customer is interned once (and not at all when it is the previous row's); orders and
 * categories are interned on their own and the (customer, order) and (customer, category) pairs
 * live in integer-keyed PairTables. The composite byte keys are only built at encode time, in
 * (customer rank, order or category rank) order: the same bytes, in the same order, as interning
 * the composite keys would give (a customer holds no NUL, so `c1 NUL x` < `c2 NUL y` exactly when
 * c1 < c2, or c1 = c2 and x < y; and a lone ASCII NUL never changes how the bytes around it are
 * repaired as UTF-8).
 */

import { KeyedCellsWriter, type KeyedRun, NO_DAY, NO_MONTH } from '../aggregate/keyed-cells.js';
import type { ScanSpec } from '../scan-spec.js';
import { CellTable } from './cell-table.js';
import { amountAt, type CountedCells } from './counted-part.js';
import { KeySet } from './key-table.js';
import { PairTable } from './pair-table.js';
import { ESCAPED, type Fields } from './tokenizer.js';

export const CUSTOMER_RUNS = Object.freeze({
  days: 'days',
  orders: 'orders',
  categories: 'categories',
  categoryTotals: 'category-totals',
});

/** Day numbers count from 1900-01-01, the parser's first year; a u16 slot reaches 2079-06-05. */
export const DAY_EPOCH_UTC = Date.UTC(1900, 0, 1);
const MONTHS = 300 * 12;
/** Day number of the first day of each month index ((year - 1900) * 12 + month - 1). */
const MONTH_START = new Int32Array(MONTHS);
for (let m = 0; m < MONTHS; m++)
  MONTH_START[m] = (Date.UTC(1900 + Math.floor(m / 12), m % 12, 1) - DAY_EPOCH_UTC) / 86_400_000;

const REPLACEMENT = [0xef, 0xbf, 0xbd];
const LIMIT = 2 ** 52;

/** The previous row's bytes of one field, so an unchanged field skips its lookup. */
class LastField {
  private bytes = new Uint8Array(64);
  private len = -1;
  private flag = -1;

  /** True when field f has the bytes and quoting it had at the last call; otherwise remembers them. */
  same(buf: Uint8Array, fields: Fields, f: number): boolean {
    const s = fields.start[f];
    const len = fields.end[f] - s;
    const flag = fields.flag[f];
    let bytes = this.bytes;
    if (len === this.len && flag === this.flag) {
      let i = 0;
      while (i < len && bytes[i] === buf[s + i]) i++;
      if (i === len) return true;
    }
    if (len > bytes.length) {
      bytes = new Uint8Array(Math.max(len, bytes.length * 2));
      this.bytes = bytes;
    }
    for (let i = 0; i < len; i++) bytes[i] = buf[s + i];
    this.len = len;
    this.flag = flag;
    return false;
  }
}

function ranks(order: Uint32Array): Uint32Array {
  const rank = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) rank[order[i]] = i;
  return rank;
}

export class CustomerCells {
  private readonly customerCol: number;
  private readonly orderCol: number;
  private readonly categoryCol: number;
  /** The customers' slots: the chunk's own set, or a mart's key table on the same column. */
  private customers: KeySet;
  /** The mart key table whose slots are the customers' while no customer id holds a NUL. */
  private shared: KeySet | null;
  private readonly maxKeys: number;
  private readonly days: CellTable;
  /** Order ids alone, and the (customer, order) pairs. */
  private readonly orderKeys: KeySet | null;
  private readonly orders: PairTable | null;
  /** Categories alone, and the (customer, category) pairs. */
  private readonly categoryKeys: KeySet | null;
  private readonly categories: PairTable | null;
  private scratch = Buffer.allocUnsafe(512);
  private scratchView = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.length);
  /** The chunk's bytes and a DataView over them (word reads when interning straight from the chunk). */
  private buf: Uint8Array | null = null;
  private view: DataView | null = null;
  /** What the previous rows gave, reused while their fields repeat (an order's lines are contiguous). */
  private readonly lastCustomer = new LastField();
  private customer = -1;
  private readonly lastOrder = new LastField();
  private orderCustomer = -1;
  private orderCell = -1;
  private dayCustomer = -1;
  private day = -1;
  private dayCell = -1;
  /** Category slot + 1 by (field length, first byte): a chunk has few categories, so most rows hit. */
  private readonly categoryMemo = new Int32Array(4096);

  /**
   * `shared`: the key table of a mart on the customer column (no join); the rows then pass its
   * slot to `add` and the customer is not interned a second time.
   */
  constructor(spec: ScanSpec, shared: KeySet | null = null) {
    this.customerCol = spec.customer as number;
    this.orderCol = spec.order ?? -1;
    this.categoryCol = spec.category ?? -1;
    this.maxKeys = spec.maxKeys;
    this.shared = shared;
    this.customers = shared ?? KeySet.take('customer', spec.maxKeys);
    this.days = CellTable.take(CUSTOMER_RUNS.days);
    const orders = this.orderCol >= 0;
    this.orderKeys = orders ? KeySet.take(CUSTOMER_RUNS.orders, spec.maxKeys) : null;
    this.orders = orders ? PairTable.take(CUSTOMER_RUNS.orders, spec.maxKeys) : null;
    const categories = this.categoryCol >= 0;
    this.categoryKeys = categories ? KeySet.take(CUSTOMER_RUNS.categories, spec.maxKeys) : null;
    this.categories = categories ? PairTable.take(CUSTOMER_RUNS.categories, spec.maxKeys) : null;
  }

  /**
   * Adds one counted row. `month` is the row's month index (-1 without a date) and `dom` its day of
   * the month; `revBig` carries a revenue too large for the number path (then `rev` is 0).
   * `sharedSlot` is the row's slot in the shared mart table (with one).
   */
  add(
    buf: Uint8Array,
    fields: Fields,
    month: number,
    dom: number,
    qty: number,
    rev: number,
    revBig: bigint | null,
    sharedSlot = -1,
  ): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    let customer = this.customer;
    if (this.shared !== null && this.hasNul(buf, fields)) this.detach();
    if (this.shared !== null) customer = sharedSlot;
    else if (!this.lastCustomer.same(buf, fields, this.customerCol)) {
      const n = this.put(0, buf, fields, this.customerCol, true);
      customer = this.customers.slot(this.scratch, 0, n, this.scratchView);
      this.customer = customer;
    }
    let day = NO_DAY;
    if (month >= 0) {
      const d = MONTH_START[month] + dom - 1;
      if (d < NO_DAY) day = d;
    }
    let c = this.dayCell;
    if (customer !== this.dayCustomer || day !== this.day) {
      c = this.days.cell(customer, day);
      this.dayCell = c;
      this.dayCustomer = customer;
      this.day = day;
    }
    this.days.add(c, qty, rev);
    if (revBig !== null) this.days.addBigRevenue(c, revBig);
    if (this.orders !== null) {
      const sameOrder = this.lastOrder.same(buf, fields, this.orderCol);
      if (!sameOrder || customer !== this.orderCustomer) {
        this.orderCell = this.orders.cell(
          customer,
          this.fieldSlot(this.orderKeys as KeySet, buf, fields, this.orderCol),
        );
        this.orderCustomer = customer;
      }
      this.orders.add(this.orderCell, qty, 0);
    }
    if (this.categories !== null) {
      const k = this.categories.cell(customer, this.categorySlot(buf, fields));
      this.categories.add(k, qty, rev);
      if (revBig !== null) this.categories.addBigRevenue(k, revBig);
    }
  }

  private hasNul(buf: Uint8Array, fields: Fields): boolean {
    const e = fields.end[this.customerCol];
    for (let i = fields.start[this.customerCol]; i < e; i++) if (buf[i] === 0) return true;
    return false;
  }

  /**
   * A customer id with a NUL byte is keyed with U+FFFD in its place, unlike the mart's key: from
   * here on the chunk interns customers itself. The mart's keys so far hold no NUL, so copying
   * them in slot order gives the same slots.
   */
  private detach(): void {
    const mart = this.shared as KeySet;
    const own = KeySet.take('customer', this.maxKeys);
    const kb = mart.keyBytes;
    const view = new DataView(kb.buffer, kb.byteOffset, kb.length);
    for (let s = 0; s < mart.size; s++) own.slot(kb, mart.keyStart(s), mart.keyEnd(s), view);
    this.customers = own;
    this.shared = null;
  }

  /** The slot of the row's category, from the memo when its bytes are those of the slot there. */
  private categorySlot(buf: Uint8Array, fields: Fields): number {
    const f = this.categoryCol;
    const keys = this.categoryKeys as KeySet;
    const s = fields.start[f];
    const len = fields.end[f] - s;
    if (fields.flag[f] === ESCAPED || len === 0) return this.fieldSlot(keys, buf, fields, f);
    const m = ((len & 15) << 8) | buf[s];
    const hit = this.categoryMemo[m] - 1;
    if (hit >= 0 && keys.keyEnd(hit) - keys.keyStart(hit) === len) {
      const kb = keys.keyBytes;
      const ks = keys.keyStart(hit);
      let i = 0;
      while (i < len && kb[ks + i] === buf[s + i]) i++;
      if (i === len) return hit;
    }
    const slot = this.fieldSlot(keys, buf, fields, f);
    this.categoryMemo[m] = slot + 1;
    return slot;
  }

  /** The slot of field `f` in `table`: straight from the chunk, or unescaped through the scratch buffer. */
  private fieldSlot(table: KeySet, buf: Uint8Array, fields: Fields, f: number): number {
    if (fields.flag[f] === ESCAPED) {
      const n = this.put(0, buf, fields, f, false);
      return table.slot(this.scratch, 0, n, this.scratchView);
    }
    return table.slot(buf, fields.start[f], fields.end[f], this.view as DataView);
  }

  /**
   * Copies field `f` (unescaped) into the scratch buffer at `at`; returns the end. In the customer
   * part a NUL byte becomes U+FFFD, so the first NUL of a composite key always ends the customer.
   */
  private put(at: number, buf: Uint8Array, fields: Fields, f: number, customer: boolean): number {
    const s = fields.start[f];
    const e = fields.end[f];
    if (at + 3 * (e - s) > this.scratch.length) this.grow(at + 3 * (e - s));
    const out = this.scratch;
    const escaped = fields.flag[f] === ESCAPED;
    for (let i = s; i < e; i++) {
      const b = buf[i];
      if (b === 0 && customer) {
        out[at++] = REPLACEMENT[0];
        out[at++] = REPLACEMENT[1];
        out[at++] = REPLACEMENT[2];
        continue;
      }
      out[at++] = b;
      // A doubled quote inside a quoted field stands for one.
      if (escaped && b === 0x22 && i + 1 < e && buf[i + 1] === 0x22) i++;
    }
    return at;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    this.scratch.copy(next);
    this.scratch = next;
    this.scratchView = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /** True while no row reached the `days` cells (the WASM path may then encode its own run). */
  daysUntouched(): boolean {
    return this.days.size === 0;
  }

  /**
   * Adds (customer, day) cells counted elsewhere (the WASM path) at a scale 10^k below this one:
   * `f` = 10^k, `fn` its number. Their keys are the JS path's bytes (WASM leaves NUL and invalid
   * UTF-8 ids to JS).
   */
  addCountedDays(cells: CountedCells, f: bigint, fn: number): void {
    const k = cells.keys;
    const view = new DataView(k.bytes.buffer, k.bytes.byteOffset, k.bytes.length);
    const slots = k.starts.map((s, i) => this.customers.slot(k.bytes, s, k.ends[i], view));
    for (let i = 0; i < cells.rows.length; i++) {
      const c = this.days.cell(slots[cells.slot[i]], cells.month[i]);
      const units = cells.units.num[i];
      const revenue = cells.revenue.num[i] * fn;
      if (!Number.isNaN(units) && revenue <= LIMIT) this.days.addCounted(c, cells.rows[i], units, revenue);
      else this.days.addCounted(c, cells.rows[i], amountAt(cells.units, i), amountAt(cells.revenue, i) * f);
    }
  }

  /** Multiplies every revenue by 10^k exactly (a scale raise). */
  upscale(k: number): void {
    const f = 10n ** BigInt(k);
    this.days.upscale(k);
    this.categories?.upscale(f);
  }

  /**
   * A PairTable as the run of its composite keys `customer NUL key`, sorted by (customer, key) bytes,
   * which is their byte order (see the top of the file).
   */
  private encodePairs(pairs: PairTable, customerRank: Uint32Array, keys: KeySet, scale: number): KeyedRun {
    const sorted = pairs.sortedCells(customerRank, customerRank.length, ranks(keys.sortedSlots()));
    const out = new KeyedCellsWriter(scale);
    const customers = this.customers;
    const cb = customers.keyBytes;
    const kb = keys.keyBytes;
    const big = pairs.unitsBig.size > 0 || pairs.revenueBig.size > 0;
    for (let i = 0; i < sorted.length; i++) {
      const c = sorted[i];
      const cs = customers.keyStart(pairs.a[c]);
      const ce = customers.keyEnd(pairs.a[c]);
      const ks = keys.keyStart(pairs.b[c]);
      const ke = keys.keyEnd(pairs.b[c]);
      const len = ce - cs + 1 + ke - ks;
      if (len > this.scratch.length) this.grow(len);
      // The writer may re-read the current key's bytes until the next key: this one is written
      // only after it.
      const key = this.scratch;
      let at = 0;
      for (let p = cs; p < ce; p++) key[at++] = cb[p];
      key[at++] = 0;
      for (let p = ks; p < ke; p++) key[at++] = kb[p];
      out.key(key, 0, len);
      if (big && pairs.isBig(c)) out.cellBig(NO_MONTH, pairs.rows[c], pairs.unitsOf(c), pairs.revenueOf(c));
      else out.cell(NO_MONTH, pairs.rows[c], pairs.units[c], pairs.revenue[c]);
    }
    return { kind: 'cust', name: pairs.name, blocks: out.finish() };
  }

  /** Per-category sums of the chunk, from its (customer, category) cells: no second lookup per row. */
  private categoryTotals(pairs: PairTable, keys: KeySet, scale: number): KeyedRun {
    const n = keys.size;
    const rows = new Float64Array(n);
    const units = new Float64Array(n);
    const revenue = new Float64Array(n);
    const unitsBig: bigint[] = new Array(n).fill(0n);
    const revenueBig: bigint[] = new Array(n).fill(0n);
    for (let c = 0; c < pairs.size; c++) {
      const k = pairs.b[c];
      rows[k] += pairs.rows[c];
      let u = units[k] + pairs.units[c];
      if (u > LIMIT || u < -LIMIT) {
        unitsBig[k] += BigInt(u);
        u = 0;
      }
      units[k] = u;
      let r = revenue[k] + pairs.revenue[c];
      if (r > LIMIT || r < -LIMIT) {
        revenueBig[k] += BigInt(r);
        r = 0;
      }
      revenue[k] = r;
    }
    for (const [c, v] of pairs.unitsBig) unitsBig[pairs.b[c]] += v;
    for (const [c, v] of pairs.revenueBig) revenueBig[pairs.b[c]] += v;
    const out = new KeyedCellsWriter(scale);
    const kb = keys.keyBytes;
    for (const k of keys.sortedSlots()) {
      out.key(kb, keys.keyStart(k), keys.keyEnd(k));
      if (unitsBig[k] === 0n && revenueBig[k] === 0n) out.cell(NO_MONTH, rows[k], units[k], revenue[k]);
      else out.cellBig(NO_MONTH, rows[k], unitsBig[k] + BigInt(units[k]), revenueBig[k] + BigInt(revenue[k]));
    }
    return { kind: 'cust', name: CUSTOMER_RUNS.categoryTotals, blocks: out.finish() };
  }

  /**
   * The chunk's runs at `scale`; the tables go back to their pools. `sharedOrder`: the shared mart
   * table's sortedSlots(), when the caller has them. `days`: the `days` run encoded elsewhere
   * (WASM), used in place of this table's (then empty).
   */
  runs(scale: number, sharedOrder?: Uint32Array, days: KeyedRun | null = null): KeyedRun[] {
    const shared = this.shared !== null;
    const pairs = this.orders !== null || this.categories !== null;
    const customerOrder =
      shared && sharedOrder !== undefined
        ? sharedOrder
        : days === null || pairs
          ? this.customers.sortedSlots()
          : new Uint32Array(0);
    const out = [days ?? this.days.encode(this.customers, scale, 'cust', customerOrder)];
    const customerRank = this.orders !== null || this.categories !== null ? ranks(customerOrder) : null;
    if (this.orders !== null)
      out.push(this.encodePairs(this.orders, customerRank as Uint32Array, this.orderKeys as KeySet, scale));
    if (this.categories !== null) {
      const keys = this.categoryKeys as KeySet;
      out.push(this.encodePairs(this.categories, customerRank as Uint32Array, keys, scale));
      out.push(this.categoryTotals(this.categories, keys, scale));
    }
    // The runs hold copies of every key and amount: the tables go back to the pools.
    this.days.release();
    // A shared table is the mart's: it is not ours to release.
    if (!shared) this.customers.release();
    this.orderKeys?.release();
    this.orders?.release();
    this.categoryKeys?.release();
    this.categories?.release();
    return out;
  }
}
