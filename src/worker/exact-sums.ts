/**
 * Exact rows/units/revenue per cell in typed arrays: numbers within 2^52 and a sparse bigint side
 * table past it (rare: only cells that large pay for a bigint). The accumulator behind CellTable
 * and PairTable; their indexes decide which cell a row is.
 */
export const LIMIT = 2 ** 52;

export class ExactSums {
  rows = new Float64Array(256);
  units = new Float64Array(256);
  revenue = new Float64Array(256);
  readonly unitsBig = new Map<number, bigint>();
  readonly revenueBig = new Map<number, bigint>();
  size = 0;

  /** Room for n cells, the sums kept. */
  protected growSums(n: number): void {
    const grow = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.rows = grow(this.rows);
    this.units = grow(this.units);
    this.revenue = grow(this.revenue);
  }

  /** Every cell gone; the arrays are kept. */
  protected clearSums(): void {
    this.rows.fill(0, 0, this.size);
    this.units.fill(0, 0, this.size);
    this.revenue.fill(0, 0, this.size);
    this.unitsBig.clear();
    this.revenueBig.clear();
    this.size = 0;
  }

  /** Adds one row: units and revenue (at the current scale) within 2^52 each. */
  add(c: number, units: number, revenue: number): void {
    this.rows[c]++;
    let u = this.units[c] + units;
    if (u > LIMIT || u < -LIMIT) {
      this.unitsBig.set(c, (this.unitsBig.get(c) ?? 0n) + BigInt(u));
      u = 0;
    }
    this.units[c] = u;
    let r = this.revenue[c] + revenue;
    if (r > LIMIT || r < -LIMIT) {
      this.revenueBig.set(c, (this.revenueBig.get(c) ?? 0n) + BigInt(r));
      r = 0;
    }
    this.revenue[c] = r;
  }

  /** Adds a revenue too large for the number path. */
  addBigRevenue(c: number, revenue: bigint): void {
    if (revenue !== 0n) this.revenueBig.set(c, (this.revenueBig.get(c) ?? 0n) + revenue);
  }

  /** Multiplies every revenue by `factor` (a power of ten) exactly: a scale raise. */
  protected scaleRevenue(factor: bigint): void {
    const f = Number(factor);
    for (const [c, v] of this.revenueBig) this.revenueBig.set(c, v * factor);
    for (let c = 0; c < this.size; c++) {
      const r = this.revenue[c] * f;
      if (r > LIMIT || r < -LIMIT) {
        this.revenueBig.set(c, (this.revenueBig.get(c) ?? 0n) + BigInt(this.revenue[c]) * factor);
        this.revenue[c] = 0;
      } else this.revenue[c] = r;
    }
  }

  unitsOf(c: number): bigint {
    return (this.unitsBig.get(c) ?? 0n) + BigInt(this.units[c]);
  }

  revenueOf(c: number): bigint {
    return (this.revenueBig.get(c) ?? 0n) + BigInt(this.revenue[c]);
  }

  /** True when cell c has a part in the bigint side tables. */
  isBig(c: number): boolean {
    return this.unitsBig.has(c) || this.revenueBig.has(c);
  }
}
