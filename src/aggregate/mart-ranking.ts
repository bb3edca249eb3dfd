/**
 * Rankings of a mart's keys, computed in one pass over its cells in (key, month) order with
 * bounded heaps: the best `depth` keys per month, per year and overall, by revenue, units and
 * rows. Memory is periods × metrics × depth entries, whatever the number of keys. Ties go to the
 * key that comes first in byte order, which is the order the cells arrive in (`ord`). Pure.
 */
import { NO_MONTH } from './keyed-cells.js';
import { monthKey } from './mart.js';

export type Amount = number | bigint;
export type Per = 'month' | 'year' | 'all';
export type By = 'revenue' | 'units' | 'rows';
export const PERS: readonly Per[] = ['month', 'year', 'all'];
export const BYS: readonly By[] = ['revenue', 'units', 'rows'];

/** One ranked key with its sums over the period (revenue in the smallest unit of the run's scale). */
export interface RankEntry {
  key: string;
  /** The key's position in byte order among all keys (ties rank the lower one first). */
  ord: number;
  rows: number;
  units: Amount;
  revenue: Amount;
}

export interface Ranking {
  per: Per;
  /** 'YYYY-MM', 'YYYY' or '' (overall). */
  period: string;
  by: By;
  /** Best first. */
  entries: RankEntry[];
}

const SAFE = 2 ** 53;

/** Exact a + b: numbers while safe, bigints past that. */
export function addAmount(a: Amount, b: Amount): Amount {
  if (typeof a === 'number' && typeof b === 'number') {
    const s = a + b;
    // Exact only strictly inside ±2^53: 2^53 + 1 rounds to 2^53.
    if (s < SAFE && s > -SAFE) return s;
  }
  return BigInt(a) + BigInt(b);
}

/** Whether (va, oa) ranks above (vb, ob): a larger value, or an equal one with a lower ord. */
export function better(va: Amount, oa: number, vb: Amount, ob: number): boolean {
  // `<`/`>` compare a number with a bigint exactly.
  if (va > vb) return true;
  if (va < vb) return false;
  return oa < ob;
}

function metric(e: RankEntry, by: By): Amount {
  return by === 'revenue' ? e.revenue : by === 'units' ? e.units : e.rows;
}

/** The best `depth` entries by one metric: a heap with the weakest kept entry on top. */
export class TopN {
  private readonly heap: RankEntry[] = [];
  /** The weakest kept entry's value and ord once the heap is full (the bar a newcomer must pass). */
  private barV: Amount = 0;
  private barO = -1;
  constructor(
    readonly depth: number,
    readonly by: By,
  ) {}

  /** Whether an entry with this value and ord would be kept (call before building the entry). */
  takes(v: Amount, ord: number): boolean {
    if (this.barO < 0) return this.depth > 0;
    return v > this.barV || (v >= this.barV && ord < this.barO);
  }

  private setBar(): void {
    if (this.heap.length < this.depth) return;
    this.barV = metric(this.heap[0], this.by);
    this.barO = this.heap[0].ord;
  }

  offer(e: RankEntry): void {
    const h = this.heap;
    const by = this.by;
    if (h.length < this.depth) {
      h.push(e);
      let i = h.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(metric(h[p], by), h[p].ord, metric(h[i], by), h[i].ord)) break;
        const t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
      }
      this.setBar();
      return;
    }
    if (!this.takes(metric(e, by), e.ord)) return;
    h[0] = e;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      // The weaker child goes up.
      const w = r < h.length && better(metric(h[l], by), h[l].ord, metric(h[r], by), h[r].ord) ? r : l;
      if (!better(metric(h[i], by), h[i].ord, metric(h[w], by), h[w].ord)) break;
      const t = h[i];
      h[i] = h[w];
      h[w] = t;
      i = w;
    }
    this.setBar();
  }

  /** Best first. */
  sorted(): RankEntry[] {
    const by = this.by;
    return [...this.heap].sort((a, b) => (better(metric(a, by), a.ord, metric(b, by), b.ord) ? -1 : 1));
  }
}

export interface RankDepths {
  month: number;
  year: number;
  all: number;
}

/**
 * Sums of one key over one period, reused from key to key: numbers while exact, with a bigint part
 * past 2^53.
 */
class Acc {
  period = 0;
  rows = 0;
  private u = 0;
  private ub = 0n;
  private r = 0;
  private rb = 0n;

  reset(period: number): void {
    this.period = period;
    this.rows = 0;
    this.u = 0;
    this.ub = 0n;
    this.r = 0;
    this.rb = 0n;
  }

  add(rows: number, units: Amount, revenue: Amount): void {
    this.rows += rows;
    if (typeof units === 'number' && Math.abs(this.u + units) < SAFE) this.u += units;
    else {
      this.ub += BigInt(this.u) + BigInt(units);
      this.u = 0;
    }
    if (typeof revenue === 'number' && Math.abs(this.r + revenue) < SAFE) this.r += revenue;
    else {
      this.rb += BigInt(this.r) + BigInt(revenue);
      this.r = 0;
    }
  }

  get units(): Amount {
    return this.ub === 0n ? this.u : addAmount(this.ub, this.u);
  }

  get revenue(): Amount {
    return this.rb === 0n ? this.r : addAmount(this.rb, this.r);
  }
}

/**
 * Feed every cell in (key, month) order with `cell`, then call `finish`. A key's text is decoded
 * only when it enters a ranking.
 */
export class MartRanker {
  /** By month index (at most NO_MONTH of them). */
  private readonly months: (TopN[] | undefined)[] = [];
  private readonly years = new Map<number, TopN[]>();
  private readonly all: TopN[];
  private ord = -1;
  private text: string | null = null;
  private keyBytes: Uint8Array = new Uint8Array(0);
  private keyS = 0;
  private keyE = 0;
  /** The current key's sums per year (years ascend within a key); `years` of them in use. */
  private readonly yearAcc: Acc[] = [];
  private yearsUsed = 0;
  private readonly total = new Acc();
  private any = false;

  /** `bys`: the metrics to rank by (all three when the merge stores them; one for a deep `top`). */
  constructor(
    private readonly depths: RankDepths,
    private readonly bys: readonly By[] = BYS,
  ) {
    this.all = bys.map((by) => new TopN(depths.all, by));
  }

  private heaps(map: Map<number, TopN[]>, period: number, depth: number): TopN[] {
    let hs = map.get(period);
    if (hs === undefined) map.set(period, (hs = this.bys.map((by) => new TopN(depth, by))));
    return hs;
  }

  private textOf(): string {
    const b = this.keyBytes;
    this.text ??= Buffer.from(b.buffer, b.byteOffset + this.keyS, this.keyE - this.keyS).toString('utf8');
    return this.text;
  }

  private offer(hs: TopN[], rows: number, units: Amount, revenue: Amount): void {
    const ord = this.ord;
    let e: RankEntry | null = null;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      const v = h.by === 'revenue' ? revenue : h.by === 'units' ? units : rows;
      if (!h.takes(v, ord)) continue;
      e ??= { key: this.textOf(), ord, rows, units, revenue };
      h.offer(e);
    }
  }

  /**
   * A cell of key number `ord` (ords ascend with the keys, several cells per key), whose UTF-8
   * bytes are `keyBytes[ks, ke)`; the bytes must stay unchanged until the next key's first cell.
   */
  cell(
    ord: number,
    keyBytes: Uint8Array,
    ks: number,
    ke: number,
    month: number,
    rows: number,
    units: Amount,
    revenue: Amount,
  ): void {
    if (ord !== this.ord) {
      this.flushKey();
      this.ord = ord;
      this.text = null;
      this.keyBytes = keyBytes;
      this.keyS = ks;
      this.keyE = ke;
      this.any = true;
    }
    this.total.add(rows, units, revenue);
    if (month === NO_MONTH) return;
    if (this.depths.month > 0) {
      let hs = this.months[month];
      if (hs === undefined) this.months[month] = hs = this.bys.map((by) => new TopN(this.depths.month, by));
      this.offer(hs, rows, units, revenue);
    }
    const year = Math.floor(month / 12);
    const ya = this.yearAcc;
    let a = this.yearsUsed > 0 ? ya[this.yearsUsed - 1] : undefined;
    if (a === undefined || a.period !== year) {
      a = ya[this.yearsUsed];
      if (a === undefined) ya.push((a = new Acc()));
      this.yearsUsed++;
      a.reset(year);
    }
    a.add(rows, units, revenue);
  }

  private flushKey(): void {
    if (!this.any) return;
    for (let y = 0; y < this.yearsUsed; y++) {
      const a = this.yearAcc[y];
      if (this.depths.year > 0)
        this.offer(this.heaps(this.years, a.period, this.depths.year), a.rows, a.units, a.revenue);
    }
    this.yearsUsed = 0;
    const t = this.total;
    this.offer(this.all, t.rows, t.units, t.revenue);
    t.reset(0);
    this.any = false;
  }

  /** Every ranking: months, then years, then overall; periods ascending. */
  finish(): Ranking[] {
    this.flushKey();
    const out: Ranking[] = [];
    const emit = (per: Per, map: Map<number, TopN[]>, name: (p: number) => string) => {
      for (const p of [...map.keys()].sort((a, b) => a - b)) {
        for (const h of map.get(p) as TopN[])
          out.push({ per, period: name(p), by: h.by, entries: h.sorted() });
      }
    };
    const months = new Map<number, TopN[]>();
    this.months.forEach((hs, m) => {
      if (hs !== undefined) months.set(m, hs);
    });
    emit('month', months, monthKey);
    emit('year', this.years, (y) => String(1900 + y));
    if (this.depths.all > 0 && this.ord >= 0)
      for (const h of this.all) out.push({ per: 'all', period: '', by: h.by, entries: h.sorted() });
    return out;
  }
}
