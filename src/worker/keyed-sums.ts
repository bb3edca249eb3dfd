/**
 * A chunk's sums per key, the keyed half of a ChunkAggregator (parse-chunk.ts keeps the totals and
 * months): per counted row, the dimensions' key slots, the marts' (key, month) cells, the joined
 * attributes (`--join`), the customers' features and the basket rows; at the chunk's end, all of
 * them as keyed-cell runs. Keys are interned by bytes; a quoted key with doubled quotes is
 * unescaped first. Amounts arrive at the aggregator's scale, which `upscale` follows.
 */

import { type KeyedRun, NO_MONTH } from '../aggregate/keyed-cells.js';
import type { ScanSpec } from '../scan-spec.js';
import { BasketCollector } from './basket-collector.js';
import { CellTable, encodeDimension } from './cell-table.js';
import { amountAt, type CountedPart } from './counted-part.js';
import { CustomerCells } from './customer-cells.js';
import { JoinProbe, type JoinTable } from './join-table.js';
import { KeyTable } from './key-table.js';
import { ESCAPED, type Fields, fieldText } from './tokenizer.js';

const LIMIT = 2 ** 52;

export class KeyedSums {
  private readonly dimTables: KeyTable[];
  private readonly dimIndex: Int32Array;
  private readonly martTables: KeyTable[];
  private readonly martIndex: Int32Array;
  private readonly marts: CellTable[];
  /** `--join` tables: probed once per counted row; `joinUse` maps dimensions, then marts, to their joined attribute (-1: a plain column). */
  private readonly joins: JoinProbe | null;
  private readonly joinUse: Int32Array;
  /** Per-customer features (a customer column in the spec), else null: no cost per row. */
  private readonly customers: CustomerCells | null;
  /** The mart on the customer column (no join), whose key slots the customers reuse; -1: none. */
  private readonly customerMart: number;
  /** Orders and baskets (`--order` with `--item`), or null: nothing per row on the plain path. */
  private readonly basket: BasketCollector | null;
  private readonly basketDim: number;

  constructor(spec: ScanSpec, joinTables: JoinTable[]) {
    this.dimTables = spec.dimensions.map((d) => new KeyTable(d.name, spec.maxKeys));
    this.dimIndex = Int32Array.from(spec.dimensions.map((d) => d.index));
    const marts = spec.marts ?? [];
    this.martTables = marts.map((d) => new KeyTable(d.name, spec.maxKeys));
    this.martIndex = Int32Array.from(marts.map((d) => d.index));
    this.marts = marts.map((d) => CellTable.take(d.name));
    const refs = spec.joins ?? [];
    if (joinTables.length !== refs.length) throw new Error('the join tables have not all arrived');
    const probe = refs.length > 0 ? new JoinProbe(joinTables, refs, spec.maxKeys) : null;
    this.joins = probe;
    this.joinUse = Int32Array.from([...spec.dimensions, ...marts], (d) =>
      probe === null || d.join === undefined ? -1 : probe.use(d.join, d.attr as number),
    );
    this.customerMart =
      spec.customer === undefined
        ? -1
        : marts.findIndex((d) => d.index === spec.customer && d.join === undefined);
    this.customers =
      spec.customer === undefined
        ? null
        : new CustomerCells(spec, this.customerMart >= 0 ? this.martTables[this.customerMart] : null);
    // An item column that is also a dimension shares its key table: one lookup per row for both.
    this.basketDim =
      spec.item === undefined
        ? -1
        : spec.dimensions.findIndex((d) => d.index === spec.item && d.join === undefined);
    this.basket =
      spec.order !== undefined && spec.item !== undefined
        ? new BasketCollector(
            spec.order,
            spec.item,
            spec.maxKeys,
            spec.scale,
            spec.shipAllOrders === true,
            this.dimTables[this.basketDim],
          )
        : null;
  }

  /** The chunk's orders and baskets, or null without `--order` and `--item`. */
  get baskets(): BasketCollector | null {
    return this.basket;
  }

  /**
   * Counts the record in `fields` of buf: `qty` units and `rev` revenue at `scale`, or, past the
   * number path, revenue `revBig` (then `rev` is 0); `month` -1 for no date, `dom` its day.
   */
  count(
    buf: Uint8Array,
    view: DataView,
    fields: Fields,
    month: number,
    dom: number,
    qty: number,
    rev: number,
    revBig: bigint | null,
    scale: number,
  ): void {
    this.joins?.probe(buf, view, fields);
    const tables = this.dimTables;
    let itemSlot = -1;
    for (let k = 0; k < tables.length; k++) {
      const slot = this.slotOf(buf, view, fields, tables[k], this.dimIndex[k], k);
      if (k === this.basketDim) itemSlot = slot;
      if (revBig !== null) {
        tables[k].add(slot, qty, 0);
        tables[k].addBig(slot, revBig);
      } else tables[k].add(slot, qty, rev);
    }
    const martTables = this.martTables;
    let customerSlot = -1;
    for (let k = 0; k < martTables.length; k++) {
      const slot = this.slotOf(buf, view, fields, martTables[k], this.martIndex[k], tables.length + k);
      if (k === this.customerMart) customerSlot = slot;
      const mart = this.marts[k];
      const c = mart.cell(slot, month >= 0 ? month : NO_MONTH);
      if (revBig !== null) {
        mart.add(c, qty, 0);
        mart.addBigRevenue(c, revBig);
      } else mart.add(c, qty, rev);
    }
    // With a shared customer mart, the row's customer is its slot there (-1 would key no customer).
    if (this.customers !== null) this.customers.add(buf, fields, month, dom, qty, rev, revBig, customerSlot);
    this.basket?.row(buf, view, fields.start, fields.end, fields.flag, rev, revBig, scale, itemSlot);
  }

  /**
   * The key slot of field `f` of the current record (quoted keys with doubled quotes are
   * unescaped), or of its joined attribute when dimension/mart `use` is one.
   */
  private slotOf(
    buf: Uint8Array,
    view: DataView,
    fields: Fields,
    table: KeyTable,
    f: number,
    use: number,
  ): number {
    const u = this.joinUse[use];
    if (u >= 0) return (this.joins as JoinProbe).slot(u, table);
    const fs = fields.start;
    const fe = fields.end;
    if (fields.flag[f] === ESCAPED) {
      const key = Buffer.from(fieldText(buf, fs[f], fe[f], ESCAPED), 'utf8');
      return table.slot(key, 0, key.length);
    }
    return table.slot(buf, fs[f], fe[f], view);
  }

  /** Re-expresses the keyed money at a scale k decimals larger (f = 10^k), exactly. */
  upscale(f: bigint, k: number): void {
    for (const t of this.dimTables) t.upscale(f);
    for (const m of this.marts) m.upscale(k);
    this.customers?.upscale(k);
  }

  /**
   * The keyed cells of rows counted outside (the WASM path), raised to this scale by f (bigint)
   * and fn (the same factor as a number).
   */
  addCounted(part: CountedPart, f: bigint, fn: number): void {
    // Amounts within 2^52 stay numbers (exact), so keys and cells do not each hold bigints.
    part.dims.forEach((d, k) => {
      const t = this.dimTables[k];
      const view = new DataView(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length);
      for (let i = 0; i < d.rows.length; i++) {
        const slot = t.slot(d.bytes, d.starts[i], d.ends[i], view);
        const units = d.units.num[i];
        const revenue = d.revenue.num[i] * fn;
        if (!Number.isNaN(units) && revenue <= LIMIT) {
          t.add(slot, units, revenue);
          t.rows[slot] += d.rows[i] - 1;
        } else {
          t.rows[slot] += d.rows[i];
          t.unitsBig[slot] += amountAt(d.units, i);
          t.revenueBig[slot] += amountAt(d.revenue, i) * f;
        }
      }
    });
    part.marts.forEach((m, k) => {
      const keys = this.martTables[k];
      const view = new DataView(m.keys.bytes.buffer, m.keys.bytes.byteOffset, m.keys.bytes.length);
      const slots = m.keys.starts.map((s, i) => keys.slot(m.keys.bytes, s, m.keys.ends[i], view));
      for (let i = 0; i < m.rows.length; i++) {
        const c = this.marts[k].cell(slots[m.slot[i]], m.month[i]);
        const units = m.units.num[i];
        const revenue = m.revenue.num[i] * fn;
        if (!Number.isNaN(units) && revenue <= LIMIT) this.marts[k].addCounted(c, m.rows[i], units, revenue);
        else this.marts[k].addCounted(c, m.rows[i], amountAt(m.units, i), amountAt(m.revenue, i) * f);
      }
    });
    if (part.customerDays !== undefined) this.customers?.addCountedDays(part.customerDays, f, fn);
  }

  /** True while no mart holds a cell. */
  martsEmpty(): boolean {
    return this.marts.every((m) => m.size === 0);
  }

  /** True while no row reached the customers' days. */
  customerDaysEmpty(): boolean {
    return this.customers?.daysUntouched() ?? true;
  }

  /** The keyed runs at `scale`; `encoded` and `days` as in ChunkAggregator.keyedRuns. */
  runs(scale: number, encoded: (KeyedRun | null)[], days: KeyedRun | null): KeyedRun[] {
    // A mart's key order is sorted once, also for the customers that share its keys.
    const martOrders = this.martTables.map((t) => t.sortedSlots());
    const runs = [
      ...this.dimTables.map((t) => encodeDimension(t, scale)),
      ...this.marts.map((m, k) => encoded[k] ?? m.encode(this.martTables[k], scale, 'mart', martOrders[k])),
      ...(this.joins?.runs(scale) ?? []),
      ...(this.customers?.runs(scale, martOrders[this.customerMart], days) ?? []),
      ...(this.basket?.runs(scale) ?? []),
    ];
    for (const m of this.marts) m.release();
    return runs;
  }
}
