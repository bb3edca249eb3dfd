// Owns `generate --layout retail`: the seeded order-line fact file (an order's lines contiguous,
// orders chronological) and, on request, its dimension tables. Money is integer cents, so
// total_cost = price × quantity exactly. Rows are assembled into 4 MiB byte blocks from parts
// encoded once, so millions of rows take seconds in bounded memory.

import { mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RETAIL_LIMITS } from '../config.js';
import { UsageError } from '../errors.js';
import { mulberry32, pickWeighted, seedState } from './random.js';
import {
  AFFINITY_PROBABILITY,
  BIG_SPENDER,
  CITIES,
  orderStore,
  PERSONAS,
  planRetail,
  RETAIL_DAYS,
  RETAIL_FIRST_DAY,
  type RetailPlan,
  SALES_PER_STORE,
  SINGLE_CATEGORY,
} from './retail-plan.js';
import { copyBytes, formatCents, writeAll, writeCents, writeUint } from './row-bytes.js';

export const RETAIL_HEADER =
  'order_id,customer_id,store_id,sales_person_id,product,category,sales_date,price,quantity,total_cost';

export interface RetailOptions {
  rows: number;
  customers: number;
  products: number;
  /** Default: one per five products, at most ten (`defaultCategories`). */
  categories?: number;
  /** Mean lines per order; default about 2.2 (RetailPlanOptions.linesPerOrder). */
  linesPerOrder?: number;
  seed: number;
  out: string;
  /** Also write customers.csv, stores.csv and sales_team.csv next to `out`. */
  withDimensions?: boolean;
  onProgress?: (rowsWritten: number, bytesWritten: number) => void;
}

export interface RetailResult {
  rows: number;
  orders: number;
  bytes: number;
  path: string;
  /** Paths of the dimension tables, when written. */
  dimensions?: { customers: string; stores: string; salesTeam: string };
  /** The planted co-purchase pairs (product names). */
  affinities: Array<{ anchor: string; partner: string }>;
}

const BLOCK_BYTES = 4 * 1024 * 1024;
/** Longer than any retail row (ids ≤ 10 digits, names ≤ 30 bytes, money ≤ 15 digits). */
const ROW_MAX_BYTES = 160;
const COMMA = 44;
const NEWLINE = 10;

/** Checks the options and names the bad one. */
export function validateRetail(opts: RetailOptions): void {
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  };
  int('--customers', opts.customers, 1, RETAIL_LIMITS.customers);
  int('--products', opts.products, 1, RETAIL_LIMITS.products);
  if (opts.categories !== undefined)
    int('--categories', opts.categories, 1, Math.min(RETAIL_LIMITS.categories, opts.products));
  if (opts.linesPerOrder !== undefined)
    int('--lines-per-order', opts.linesPerOrder, 1, RETAIL_LIMITS.linesPerOrder);
  int('--rows', opts.rows, 2 * opts.customers, 1_000_000_000);
  int('--seed', opts.seed, 0, 2 ** 52);
  if (!opts.out) throw new UsageError('--out must be a file path');
}

/** YYYY-MM-DD from a UTC day number. */
export function formatIsoDay(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

interface Parts {
  /** `product,category,` per product. */
  product: Buffer[];
  /** `,price,` per product (after the date). */
  price: Buffer[];
  /** `YYYY-MM-DD` per period day. */
  date: Buffer[];
}

function buildParts(plan: RetailPlan, days: number): Parts {
  return {
    product: plan.products.map((p) => Buffer.from(`${p.name},${plan.categoryNames[p.category]},`, 'latin1')),
    price: plan.products.map((p) => Buffer.from(`,${formatCents(p.priceCents)},`, 'latin1')),
    date: Array.from({ length: days }, (_, d) => Buffer.from(formatIsoDay(RETAIL_FIRST_DAY + d), 'latin1')),
  };
}

/** Streams orders into blocks; `next` is the first order not yet written. */
class OrderWriter {
  next = 0;
  private readonly picked = new Int32Array(64);

  constructor(
    private readonly plan: RetailPlan,
    private readonly parts: Parts,
  ) {}

  private pickProduct(customer: number): number {
    const { plan } = this;
    if (plan.persona[customer] === SINGLE_CATEGORY) {
      const pool = plan.productsByCategory[plan.favoriteCategory[customer]];
      return pool[Math.floor(plan.rand() * pool.length)];
    }
    return pickWeighted(plan.popularity, plan.rand());
  }

  private quantity(customer: number): number {
    const r = this.plan.rand();
    if (this.plan.persona[customer] === BIG_SPENDER) return 2 + Math.floor(r * 5);
    return r < 0.6 ? 1 : r < 0.85 ? 2 : 3;
  }

  /** Products of one order: distinct where the catalogue allows, planted partners following anchors. */
  private pickOrder(customer: number, lines: number): Int32Array {
    const picked = lines <= this.picked.length ? this.picked : new Int32Array(lines);
    const { plan } = this;
    const single = plan.persona[customer] === SINGLE_CATEGORY;
    for (let l = 0; l < lines; l++) {
      const prev = l > 0 ? picked[l - 1] : -1;
      const partner = prev >= 0 && !single ? plan.partner[prev] : -1;
      let p = -1;
      if (partner >= 0 && plan.rand() < AFFINITY_PROBABILITY && !picked.subarray(0, l).includes(partner)) {
        p = partner;
      } else {
        for (let tries = 0; tries < 8; tries++) {
          p = this.pickProduct(customer);
          if (!picked.subarray(0, l).includes(p)) break;
        }
      }
      picked[l] = p;
    }
    return picked;
  }

  /** Writes whole orders from `pos` while they fit; returns the new position and rows written. */
  fill(buf: Buffer, pos: number): { pos: number; rows: number } {
    const { plan, parts } = this;
    const orders = plan.orderCustomer.length;
    let rows = 0;
    while (this.next < orders) {
      const o = this.next;
      const lines = plan.orderLines[o];
      if (pos + lines * ROW_MAX_BYTES > buf.length) break;
      const customer = plan.orderCustomer[o];
      const store = orderStore(plan, customer);
      const salesPerson = store * SALES_PER_STORE + 1 + Math.floor(plan.rand() * SALES_PER_STORE);
      const date = parts.date[plan.orderDay[o]];
      const picked = this.pickOrder(customer, lines);
      for (let l = 0; l < lines; l++) {
        const product = picked[l];
        const qty = this.quantity(customer);
        pos = writeUint(buf, pos, o + 1);
        buf[pos++] = COMMA;
        pos = writeUint(buf, pos, customer + 1);
        buf[pos++] = COMMA;
        pos = writeUint(buf, pos, store + 1);
        buf[pos++] = COMMA;
        pos = writeUint(buf, pos, salesPerson);
        buf[pos++] = COMMA;
        pos = copyBytes(buf, pos, parts.product[product]);
        pos = copyBytes(buf, pos, date);
        pos = copyBytes(buf, pos, parts.price[product]);
        pos = writeUint(buf, pos, qty);
        buf[pos++] = COMMA;
        pos = writeCents(buf, pos, plan.products[product].priceCents * qty);
        buf[pos++] = NEWLINE;
      }
      rows += lines;
      this.next++;
    }
    return { pos, rows };
  }
}

const FIRST_NAMES = {
  F: ['Ava', 'Chloe', 'Emma', 'Grace', 'Ines', 'Maya', 'Nora', 'Olivia', 'Priya', 'Sofia', 'Yuki', 'Zoe'],
  M: ['Aarav', 'Ben', 'Carlos', 'David', 'Ethan', 'Hiro', 'Jonas', 'Liam', 'Noah', 'Omar', 'Raj', 'Theo'],
};
const LAST_NAMES = [
  'Adams',
  'Brown',
  'Chen',
  'Diaz',
  'Evans',
  'Fischer',
  'Garcia',
  'Ito',
  'Johnson',
  'Khan',
  'Lopez',
  'Martin',
  'Nguyen',
  'Okafor',
  'Patel',
  'Rossi',
  'Smith',
  'Tanaka',
  'Walker',
  'Young',
];

function personName(rand: () => number, gender: 'F' | 'M'): string {
  const first = FIRST_NAMES[gender];
  return `${first[Math.floor(rand() * first.length)]} ${LAST_NAMES[Math.floor(rand() * LAST_NAMES.length)]}`;
}

/** customers.csv, stores.csv and sales_team.csv, from the same plan (a separate seeded stream). */
async function writeDimensions(plan: RetailPlan, dir: string, seed: number) {
  const rand = mulberry32(seedState(seed) ^ 0x0d1e5c0d);
  const paths = {
    customers: path.join(dir, 'customers.csv'),
    stores: path.join(dir, 'stores.csv'),
    salesTeam: path.join(dir, 'sales_team.csv'),
  };
  const storeCity = (s: number) => CITIES[s % CITIES.length];

  const storeLines = ['store_id,city,region'];
  for (let s = 0; s < plan.stores; s++)
    storeLines.push(`${s + 1},${storeCity(s).city},${storeCity(s).region}`);
  await writeFile(paths.stores, `${storeLines.join('\n')}\n`);

  const teamLines = ['sales_person_id,name,store_id'];
  for (let s = 0; s < plan.stores; s++) {
    for (let k = 1; k <= SALES_PER_STORE; k++) {
      const gender = rand() < 0.5 ? 'F' : 'M';
      teamLines.push(`${s * SALES_PER_STORE + k},${personName(rand, gender)},${s + 1}`);
    }
  }
  await writeFile(paths.salesTeam, `${teamLines.join('\n')}\n`);

  // Customers can be millions: written in batches, not as one string.
  const file = await open(`${paths.customers}.tmp`, 'w');
  try {
    let batch: string[] = ['customer_id,name,age,gender,city,signup_date'];
    for (let c = 0; c < plan.persona.length; c++) {
      const gender = rand() < 0.5 ? 'F' : 'M';
      const age = 18 + Math.floor(rand() * 63);
      const signup = RETAIL_FIRST_DAY + plan.firstDay[c] - Math.floor(rand() * 90);
      const city = storeCity(plan.homeStore[c]).city;
      batch.push(`${c + 1},${personName(rand, gender)},${age},${gender},${city},${formatIsoDay(signup)}`);
      if (batch.length === 65_536) {
        await file.write(`${batch.join('\n')}\n`);
        batch = [];
      }
    }
    if (batch.length > 0) await file.write(`${batch.join('\n')}\n`);
    await file.close();
  } catch (err) {
    await file.close().catch(() => undefined);
    await unlink(`${paths.customers}.tmp`).catch(() => undefined);
    throw err;
  }
  await rename(`${paths.customers}.tmp`, paths.customers);
  return paths;
}

export async function generateRetail(opts: RetailOptions): Promise<RetailResult> {
  validateRetail(opts);
  const plan = planRetail(opts);
  const parts = buildParts(plan, RETAIL_DAYS);
  const writer = new OrderWriter(plan, parts);
  const maxLines = plan.orderLines.reduce((m, l) => (l > m ? l : m), 0);
  const blockBytes = Math.max(BLOCK_BYTES, 2 * maxLines * ROW_MAX_BYTES);

  await mkdir(path.dirname(opts.out), { recursive: true });
  const tmp = `${opts.out}.tmp`;
  const file = await open(tmp, 'w');
  const blocks = [Buffer.allocUnsafe(blockBytes), Buffer.allocUnsafe(blockBytes)];
  let pending: Promise<void> = Promise.resolve();
  let bytes = 0;
  let rows = 0;
  try {
    let current = 0;
    let pos = blocks[0].write(`${RETAIL_HEADER}\n`, 0, 'latin1');
    for (;;) {
      const filled = writer.fill(blocks[current], pos);
      rows += filled.rows;
      await pending;
      pending = writeAll(file, blocks[current], filled.pos);
      pending.catch(() => undefined); // awaited later; this only marks it handled meanwhile
      bytes += filled.pos;
      current ^= 1;
      pos = 0;
      opts.onProgress?.(rows, bytes);
      if (writer.next === plan.orderCustomer.length) break;
    }
    await pending;
    await file.close();
  } catch (err) {
    await pending.catch(() => undefined);
    await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await rename(tmp, opts.out);
  const dimensions = opts.withDimensions
    ? await writeDimensions(plan, path.dirname(opts.out), opts.seed)
    : undefined;
  return {
    rows,
    orders: plan.orderCustomer.length,
    bytes,
    path: opts.out,
    ...(dimensions ? { dimensions } : {}),
    affinities: plan.affinities.map((a) => ({
      anchor: plan.products[a.anchor].name,
      partner: plan.products[a.partner].name,
    })),
  };
}

export { PERSONAS };
