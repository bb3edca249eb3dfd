/**
 * The customers table: one row per customer of a run, written at the end of the run from the
 * spilled `cust` runs (worker/customer-cells.ts) in one streaming pass inside the finishing
 * transaction. The days, orders and categories merges are all sorted by customer bytes, so they
 * advance together and nothing per customer outlives its row. Also the reader `segment` streams.
 */
import { NO_DAY } from '../aggregate/keyed-cells.js';
import { KeyedMerge } from '../coordinator/keyed-merge.js';
import type { CustomerRow } from '../segment/customer-table.js';
import { CUSTOMER_RUNS, DAY_EPOCH_UTC } from '../worker/customer-cells.js';
import { decimalText, runSources } from './cell-runs.js';
import type { Statement, Store } from './store.js';

/** Categories kept by name in each customer's revenue; the rest add up under OTHER_CATEGORY. */
export const TOP_CATEGORIES = 10;
export const OTHER_CATEGORY = '(other)';

/** What the run's spec says the customer runs hold. */
export interface CustomerFeatureSpec {
  orders: boolean;
  categories: boolean;
}

type Amount = number | bigint;
const SAFE = 2 ** 53;

function plus(a: Amount, b: Amount): Amount {
  if (typeof a === 'number' && typeof b === 'number' && Math.abs(a + b) <= SAFE) return a + b;
  return BigInt(a) + BigInt(b);
}

const dayTexts = new Map<number, string>();
/** YYYY-MM-DD of a day number counted from 1900-01-01. */
export function dayText(day: number): string {
  let t = dayTexts.get(day);
  if (t === undefined) {
    t = new Date(DAY_EPOCH_UTC + day * 86_400_000).toISOString().slice(0, 10);
    if (dayTexts.size < 200_000) dayTexts.set(day, t);
  }
  return t;
}

const COLUMNS = 11;
const BATCH = 32;

/** Multi-row inserts: a million customers cross from JS into SQLite once per 32 rows. */
function batcher(store: Store): { add(row: unknown[]): void; flush(): void } {
  const head =
    'INSERT INTO customers (run_id, customer, rows, orders, units, revenue, first_date, last_date, months_active, days_active, category_revenue) VALUES';
  const tuple = `(${Array(COLUMNS).fill('?').join(', ')})`;
  const full: Statement = store.statement(`${head} ${Array(BATCH).fill(tuple).join(', ')}`);
  const one: Statement = store.statement(`${head} ${tuple}`);
  const values: unknown[] = [];
  return {
    add(row) {
      for (const v of row) values.push(v);
      if (values.length === BATCH * COLUMNS) {
        full.run(...values);
        values.length = 0;
      }
    },
    flush() {
      for (let i = 0; i < values.length; i += COLUMNS) one.run(...values.slice(i, i + COLUMNS));
      values.length = 0;
    },
  };
}

/** The top categories by revenue over the run (ties by name), at most TOP_CATEGORIES. */
function topCategories(store: Store, runId: number, scale: number, consume: boolean): Map<string, number> {
  const all: [string, bigint][] = [];
  const m = new KeyedMerge(runSources(store, runId, 'cust', CUSTOMER_RUNS.categoryTotals, consume), scale);
  while (m.next()) all.push([m.keyText(), BigInt(m.revenue)]);
  all.sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const top = new Map<string, number>();
  for (const [name] of all.slice(0, TOP_CATEGORIES)) if (name !== OTHER_CATEGORY) top.set(name, top.size);
  return top;
}

const monthOf = new Int32Array(NO_DAY + 1).fill(-1);
/** Month index (year × 12 + month) of a day number counted from 1900-01-01. */
function monthOfDay(day: number): number {
  let m = monthOf[day];
  if (m < 0) {
    const d = new Date(DAY_EPOCH_UTC + day * 86_400_000);
    m = d.getUTCFullYear() * 12 + d.getUTCMonth();
    monthOf[day] = m;
  }
  return m;
}

/**
 * The current customer's key bytes, which the merged keys are compared against as bytes: the
 * days run holds one key per customer and the composite runs `customer NUL rest`, so a million
 * customers' cells need no string each.
 */
class CustomerKey {
  private bytes = new Uint8Array(64);
  private len = 0;

  /** Takes the merge's current key. */
  set(m: KeyedMerge): void {
    const b = m.keyBytes();
    const s = m.keyStart();
    const n = m.keyEnd() - s;
    if (n > this.bytes.length) this.bytes = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) this.bytes[i] = b[s + i];
    this.len = n;
  }

  /** True when the merge's current key is the customer. */
  is(m: KeyedMerge): boolean {
    return m.keyEnd() - m.keyStart() === this.len && this.prefixOf(m);
  }

  /** Where the rest of `customer NUL rest` starts when the merge's key is one of the customer's, else -1. */
  rest(m: KeyedMerge): number {
    const s = m.keyStart();
    if (m.keyEnd() - s <= this.len || m.keyBytes()[s + this.len] !== 0 || !this.prefixOf(m)) return -1;
    return s + this.len + 1;
  }

  private prefixOf(m: KeyedMerge): boolean {
    const b = m.keyBytes();
    const s = m.keyStart();
    for (let i = 0; i < this.len; i++) if (b[s + i] !== this.bytes[i]) return false;
    return true;
  }
}

/** Index of the bytes b[s, e) among `names` (UTF-8), or `names.length` when absent. */
function nameIndex(names: Uint8Array[], b: Uint8Array, s: number, e: number): number {
  for (let k = 0; k < names.length; k++) {
    const name = names[k];
    if (name.length !== e - s) continue;
    let i = 0;
    while (i < name.length && name[i] === b[s + i]) i++;
    if (i === name.length) return k;
  }
  return names.length;
}

/**
 * Writes the run's customers from its spilled `cust` runs; returns how many. Call inside the
 * transaction that finishes the run (with `consume`, the spill is deleted as it is read).
 */
export function writeCustomers(
  store: Store,
  runId: number,
  scale: number,
  spec: CustomerFeatureSpec,
  consume = false,
): number {
  store.statement('DELETE FROM customers WHERE run_id = ?').run(runId);
  const top = spec.categories ? topCategories(store, runId, scale, consume) : new Map<string, number>();
  const topNames = [...top.keys()];
  const topBytes = topNames.map((name) => new Uint8Array(Buffer.from(name, 'utf8')));
  const merge = (name: string) => new KeyedMerge(runSources(store, runId, 'cust', name, consume), scale);
  const days = merge(CUSTOMER_RUNS.days);
  const orders = spec.orders ? merge(CUSTOMER_RUNS.orders) : null;
  const cats = spec.categories ? merge(CUSTOMER_RUNS.categories) : null;
  const out = batcher(store);
  let more = days.next();
  let oMore = orders?.next() ?? false;
  let cMore = cats?.next() ?? false;
  let written = 0;
  const catRevenue: Amount[] = [];
  const key = new CustomerKey();
  while (more) {
    const customer = days.keyText();
    key.set(days);
    let rows = 0;
    let units: Amount = 0;
    let revenue: Amount = 0;
    let first = -1;
    let last = -1;
    let daysActive = 0;
    let monthsActive = 0;
    let lastMonth = -1;
    while (more && key.is(days)) {
      rows += days.rows;
      units = plus(units, days.units);
      revenue = plus(revenue, days.revenue);
      if (days.month !== NO_DAY) {
        if (first < 0) first = days.month;
        last = days.month;
        daysActive++;
        const month = monthOfDay(days.month);
        if (month !== lastMonth) {
          monthsActive++;
          lastMonth = month;
        }
      }
      more = days.next();
    }
    let orderCount: number | null = first >= 0 ? daysActive : null;
    if (orders !== null) {
      orderCount = 0;
      while (oMore && key.rest(orders) >= 0) {
        orderCount++;
        oMore = orders.next();
      }
    }
    let categoryJson: string | null = null;
    if (cats !== null) {
      catRevenue.length = 0;
      for (let i = 0; i <= topNames.length; i++) catRevenue.push(0);
      let any = false;
      while (cMore) {
        const at = key.rest(cats);
        if (at < 0) break;
        const slot = nameIndex(topBytes, cats.keyBytes(), at, cats.keyEnd());
        catRevenue[slot] = plus(catRevenue[slot], cats.revenue);
        any = true;
        cMore = cats.next();
      }
      const obj: Record<string, string> = {};
      if (any) {
        topNames.forEach((name, i) => {
          if (catRevenue[i] !== 0 && catRevenue[i] !== 0n) obj[name] = decimalText(catRevenue[i], scale);
        });
        const other = catRevenue[topNames.length];
        if (other !== 0 && other !== 0n) obj[OTHER_CATEGORY] = decimalText(other, scale);
      }
      categoryJson = JSON.stringify(obj);
    }
    out.add([
      runId,
      customer,
      rows,
      orderCount,
      String(units),
      decimalText(revenue, scale),
      first >= 0 ? dayText(first) : null,
      last >= 0 ? dayText(last) : null,
      monthsActive,
      daysActive,
      categoryJson,
    ]);
    written++;
  }
  out.flush();
  if (oMore || cMore)
    throw new Error(`the customer runs of run ${runId} disagree: orders or categories of unknown customers`);
  return written;
}

/** The columns `customerRows` reads, in the order of its raw rows (`SELECT ${CUSTOMER_ROW_COLUMNS}`). */
export const CUSTOMER_ROW_COLUMNS =
  'customer, rows, orders, units, revenue, first_date, last_date, months_active, category_revenue';

/** One stored customer as a raw row: the CUSTOMER_ROW_COLUMNS in order. */
export type StoredCustomer = [
  customer: string,
  rows: number,
  orders: number | null,
  units: string,
  revenue: string,
  firstDate: string | null,
  lastDate: string | null,
  monthsActive: number,
  categoryRevenue: string | null,
];

export function hasCustomersTable(store: Store, runId: number): boolean {
  return store.statement('SELECT 1 FROM customers WHERE run_id = ? LIMIT 1').get(runId) !== undefined;
}

/** What reading the customers for `segment` left out, and why. */
export interface CustomerReadNotes {
  /** Rows whose customer id was empty (they count in the run's totals, not as a customer). */
  emptyIdRows: number;
  /** Customers with no usable purchase date (dates past 2079-06-05, or none). */
  undated: number;
}

/**
 * The run's customers as `runSegment` rows, streamed in customer order. Category shares are each
 * category's exact revenue over the customer's, clamped to [0, 1] (returns can push a share out).
 * The same object is yielded each time, refilled: use it before asking for the next.
 */
export function* customerRows(
  rows: Iterable<StoredCustomer>,
  notes: CustomerReadNotes,
): Generator<CustomerRow> {
  // One row object for all: a million short-lived objects would only grow the heap.
  const row: CustomerRow = {
    customer: '',
    rows: 0,
    orders: 0,
    units: 0,
    revenue: '0',
    firstDate: '',
    lastDate: '',
    monthsActive: 0,
  };
  // Raw rows (arrays): a million row objects cost about a second of CPU.
  for (const [customer, count, orders, units, revenue, first, last, months, categories] of rows) {
    if (customer === '') {
      notes.emptyIdRows += count;
      continue;
    }
    if (first === null || last === null || orders === null) {
      notes.undated++;
      continue;
    }
    row.customer = customer;
    row.rows = count;
    row.orders = Math.max(1, orders);
    row.units = Number(units);
    row.revenue = revenue;
    row.firstDate = first;
    row.lastDate = last;
    row.monthsActive = Math.max(1, months);
    row.categoryShares = categories === null ? undefined : shares(revenue, JSON.parse(categories));
    yield row;
  }
}

/**
 * Each category's share of the customer's revenue, written over the parsed JSON's values. A share
 * is a feature, not money: the ratio of the exact decimal texts as doubles (relative error ~1e-16)
 * is plenty, and a million customers skip ten BigInt parses each.
 */
function shares(total: string, parts: Record<string, string | number>): Record<string, number> {
  const t = Number(total);
  for (const name in parts) {
    const v = Number(parts[name]);
    parts[name] = t > 0 ? Math.min(1, Math.max(0, v / t)) : 0;
  }
  return parts as Record<string, number>;
}
