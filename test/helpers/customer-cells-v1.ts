/**
 * The first CustomerCells (composite `customer NUL order` / `customer NUL category` byte keys in
 * KeyTables, every lookup per row), kept as the reference the current one must encode
 * byte-identically (test/customer-cells.test.ts).
 */
import { type KeyedRun, NO_DAY } from '../../src/aggregate/keyed-cells.js';
import type { ScanSpec } from '../../src/scan-spec.js';
import { CellTable, encodeDimension } from '../../src/worker/cell-table.js';
import { KeyTable } from '../../src/worker/key-table.js';
import { ESCAPED, type Fields } from '../../src/worker/tokenizer.js';

const CUSTOMER_RUNS = Object.freeze({
  days: 'days',
  orders: 'orders',
  categories: 'categories',
  categoryTotals: 'category-totals',
});

const DAY_EPOCH_UTC = Date.UTC(1900, 0, 1);
const MONTHS = 300 * 12;
/** Day number of the first day of each month index ((year - 1900) * 12 + month - 1). */
const MONTH_START = new Int32Array(MONTHS);
for (let m = 0; m < MONTHS; m++)
  MONTH_START[m] = (Date.UTC(1900 + Math.floor(m / 12), m % 12, 1) - DAY_EPOCH_UTC) / 86_400_000;

const REPLACEMENT = [0xef, 0xbf, 0xbd];

export class CustomerCellsV1 {
  private readonly customerCol: number;
  private readonly orderCol: number;
  private readonly categoryCol: number;
  private readonly customers: KeyTable;
  private readonly days: CellTable;
  private readonly orders: KeyTable | null;
  private readonly categories: KeyTable | null;
  private readonly maxKeys: number;
  private scratch = Buffer.allocUnsafe(512);
  private scratchView = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.length);

  constructor(spec: ScanSpec) {
    this.customerCol = spec.customer as number;
    this.orderCol = spec.order ?? -1;
    this.categoryCol = spec.category ?? -1;
    this.customers = new KeyTable('customer', spec.maxKeys);
    this.days = CellTable.take(CUSTOMER_RUNS.days);
    this.orders = this.orderCol >= 0 ? new KeyTable(CUSTOMER_RUNS.orders, spec.maxKeys) : null;
    this.categories = this.categoryCol >= 0 ? new KeyTable(CUSTOMER_RUNS.categories, spec.maxKeys) : null;
    this.maxKeys = spec.maxKeys;
  }

  /**
   * Adds one counted row. `month` is the row's month index (-1 without a date) and `dom` its day of
   * the month; `revBig` carries a revenue too large for the number path (then `rev` is 0).
   */
  add(
    buf: Uint8Array,
    fields: Fields,
    month: number,
    dom: number,
    qty: number,
    rev: number,
    revBig: bigint | null,
  ): void {
    const n = this.put(0, buf, fields, this.customerCol, true);
    const slot = this.customers.slot(this.scratch, 0, n, this.scratchView);
    let day = NO_DAY;
    if (month >= 0) {
      const d = MONTH_START[month] + dom - 1;
      if (d < NO_DAY) day = d;
    }
    const c = this.days.cell(slot, day);
    this.days.add(c, qty, rev);
    if (revBig !== null) this.days.addBigRevenue(c, revBig);
    if (this.orders !== null) {
      this.scratch[n] = 0;
      const e = this.put(n + 1, buf, fields, this.orderCol, false);
      this.orders.add(this.orders.slot(this.scratch, 0, e, this.scratchView), qty, 0);
    }
    if (this.categories !== null) {
      this.scratch[n] = 0;
      const e = this.put(n + 1, buf, fields, this.categoryCol, false);
      const s = this.categories.slot(this.scratch, 0, e, this.scratchView);
      this.categories.add(s, qty, rev);
      if (revBig !== null) this.categories.addBig(s, revBig);
    }
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

  /** Multiplies every revenue by 10^k exactly (a scale raise). */
  upscale(k: number): void {
    const f = 10n ** BigInt(k);
    this.days.upscale(k);
    this.categories?.upscale(f);
  }

  /** Per-category sums of the chunk, from its (customer, category) keys: no second lookup per row. */
  private categoryTotals(cats: KeyTable): KeyTable {
    const totals = new KeyTable(CUSTOMER_RUNS.categoryTotals, this.maxKeys);
    const bytes = cats.keyBytes;
    for (let slot = 0; slot < cats.size; slot++) {
      let p = cats.keyStart(slot);
      while (bytes[p] !== 0) p++;
      const t = totals.slot(bytes, p + 1, cats.keyEnd(slot));
      totals.rows[t] += cats.rows[slot];
      totals.unitsBig[t] += cats.unitsOf(slot);
      totals.revenueBig[t] += cats.revenueOf(slot);
    }
    return totals;
  }

  /** The chunk's runs at `scale`; the day table goes back to the pool. */
  runs(scale: number): KeyedRun[] {
    const out = [this.days.encode(this.customers, scale, 'cust')];
    if (this.orders !== null) out.push(encodeDimension(this.orders, scale, 'cust'));
    if (this.categories !== null) {
      out.push(encodeDimension(this.categories, scale, 'cust'));
      out.push(encodeDimension(this.categoryTotals(this.categories), scale, 'cust'));
    }
    this.days.release();
    return out;
  }
}
