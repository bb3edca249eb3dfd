// Owns the plan behind the seeded retail layout: products, stores, customers with planted
// behaviours (personas), planted co-purchase pairs, and every order's customer, day and line
// count, in chronological order. Pure and deterministic; the writer in retail.ts turns it into
// bytes. Memory is O(customers + orders) in typed arrays, never O(rows) objects.

import { cumulate, mulberry32, pickWeighted, seedState } from './random.js';

/** Customer behaviours planted for segmentation to find. */
export const PERSONAS = ['big-spender', 'regular', 'single-category', 'lapsed', 'one-time'] as const;
export type Persona = (typeof PERSONAS)[number];
export const BIG_SPENDER = 0;
export const REGULAR = 1;
export const SINGLE_CATEGORY = 2;
export const LAPSED = 3;
export const ONE_TIME = 4;

/** Share of customers per persona, in PERSONAS order. */
const PERSONA_SHARE = [0.03, 0.37, 0.1, 0.2, 0.3];
/** Relative order counts of the repeat personas (one-time buyers have exactly one order). */
const ORDER_WEIGHT = [10, 2.5, 2.5, 1.5, 0];
/** Mean lines per order: 1 + a geometric tail. */
const LINES_MEAN = [4, 2, 2, 2, 2];
const AVERAGE_LINES = 2.2;

/** The period covered: 2023-01-01 .. 2025-12-31 (UTC day numbers). */
export const RETAIL_FIRST_DAY = Date.UTC(2023, 0, 1) / 86_400_000;
export const RETAIL_LAST_DAY = Date.UTC(2025, 11, 31) / 86_400_000;
export const RETAIL_DAYS = RETAIL_LAST_DAY - RETAIL_FIRST_DAY + 1;
/** Lapsed customers order only before this share of the period. */
export const LAPSED_END_SHARE = 0.45;

export const CATEGORIES: ReadonlyArray<{ name: string; baseCents: number }> = [
  { name: 'Grocery', baseCents: 450 },
  { name: 'Electronics', baseCents: 15_000 },
  { name: 'Books', baseCents: 1_800 },
  { name: 'Clothing', baseCents: 3_500 },
  { name: 'Home', baseCents: 5_000 },
  { name: 'Beauty', baseCents: 2_500 },
  { name: 'Toys', baseCents: 3_000 },
  { name: 'Sports', baseCents: 4_500 },
  { name: 'Garden', baseCents: 3_000 },
  { name: 'Pets', baseCents: 2_000 },
];

/** Categories past the first ten (`--categories`), with typical shelf prices. */
const MORE_CATEGORIES: ReadonlyArray<{ name: string; baseCents: number }> = [
  { name: 'Office', baseCents: 1_500 },
  { name: 'Automotive', baseCents: 4_000 },
  { name: 'Music', baseCents: 1_200 },
  { name: 'Movies', baseCents: 1_500 },
  { name: 'Shoes', baseCents: 6_000 },
  { name: 'Jewelry', baseCents: 8_000 },
  { name: 'Baby', baseCents: 2_200 },
  { name: 'Health', baseCents: 1_800 },
  { name: 'Tools', baseCents: 4_500 },
  { name: 'Kitchen', baseCents: 3_200 },
  { name: 'Furniture', baseCents: 20_000 },
  { name: 'Lighting', baseCents: 3_500 },
  { name: 'Bedding', baseCents: 4_000 },
  { name: 'Bath', baseCents: 2_000 },
  { name: 'Outdoor', baseCents: 6_500 },
  { name: 'Camping', baseCents: 5_500 },
  { name: 'Cycling', baseCents: 7_000 },
  { name: 'Fitness', baseCents: 4_000 },
  { name: 'Games', baseCents: 4_500 },
  { name: 'Crafts', baseCents: 1_500 },
  { name: 'Stationery', baseCents: 800 },
  { name: 'Luggage', baseCents: 9_000 },
  { name: 'Watches', baseCents: 12_000 },
  { name: 'Eyewear', baseCents: 7_500 },
  { name: 'Cameras', baseCents: 25_000 },
  { name: 'Phones', baseCents: 30_000 },
  { name: 'Computers', baseCents: 60_000 },
  { name: 'Audio', baseCents: 9_000 },
  { name: 'Appliances', baseCents: 18_000 },
  { name: 'Cleaning', baseCents: 900 },
  { name: 'Snacks', baseCents: 350 },
  { name: 'Beverages', baseCents: 300 },
  { name: 'Frozen', baseCents: 600 },
  { name: 'Bakery', baseCents: 400 },
  { name: 'Dairy', baseCents: 350 },
  { name: 'Produce', baseCents: 300 },
  { name: 'Wine', baseCents: 1_600 },
  { name: 'Party', baseCents: 1_000 },
  { name: 'Seasonal', baseCents: 2_500 },
  { name: 'Software', baseCents: 5_000 },
];
/** Category k: the named ones first, then `Category N` at prices that cycle through them. */
export function retailCategory(k: number): { name: string; baseCents: number } {
  if (k < CATEGORIES.length) return CATEGORIES[k];
  const more = k - CATEGORIES.length;
  if (more < MORE_CATEGORIES.length) return MORE_CATEGORIES[more];
  const like = CATEGORIES[k % CATEGORIES.length];
  return { name: `Category ${k + 1}`, baseCents: like.baseCents };
}

/** Categories when `--categories` is not given: one per five products, at most ten. */
export function defaultCategories(products: number): number {
  return Math.min(CATEGORIES.length, Math.max(1, Math.ceil(products / 5)));
}

export const CITIES: ReadonlyArray<{ city: string; region: string }> = [
  { city: 'Seattle', region: 'West' },
  { city: 'Portland', region: 'West' },
  { city: 'San Diego', region: 'West' },
  { city: 'Denver', region: 'Mountain' },
  { city: 'Phoenix', region: 'Mountain' },
  { city: 'Chicago', region: 'Midwest' },
  { city: 'Minneapolis', region: 'Midwest' },
  { city: 'Austin', region: 'South' },
  { city: 'Atlanta', region: 'South' },
  { city: 'Miami', region: 'South' },
  { city: 'Boston', region: 'Northeast' },
  { city: 'New York', region: 'Northeast' },
];

export const SALES_PER_STORE = 4;
/** Probability that an order holding a planted anchor product also holds its partner. */
export const AFFINITY_PROBABILITY = 0.7;
/** Share of an order's lines at the customer's home store. */
const HOME_STORE_SHARE = 0.9;

export interface RetailProduct {
  name: string;
  category: number;
  priceCents: number;
}

export interface RetailPlanOptions {
  rows: number;
  customers: number;
  products: number;
  /** Default: `defaultCategories(products)`; at most `products` (each category has a product). */
  categories?: number;
  /**
   * Mean lines per order (`--lines-per-order`): fewer, larger orders. Default: the personas' own
   * means, about 2.2 lines per order (and the same bytes as before the option existed).
   */
  linesPerOrder?: number;
  seed: number;
}

export interface RetailPlan {
  products: RetailProduct[];
  /** Categories in use: `retailCategory(0 … categoryCount - 1)`. */
  categoryCount: number;
  categoryNames: string[];
  productsByCategory: number[][];
  /** Cumulative popularity over products, for weighted picks. */
  popularity: Float64Array;
  /** Planted partner of an anchor product, or -1. */
  partner: Int32Array;
  affinities: Array<{ anchor: number; partner: number }>;
  stores: number;
  /** Per customer (index = customer_id - 1). */
  persona: Uint8Array;
  homeStore: Uint16Array;
  favoriteCategory: Uint8Array;
  firstDay: Int32Array;
  /** Per order, chronological (index = order_id - 1). */
  orderCustomer: Int32Array;
  orderDay: Uint16Array;
  orderLines: Uint16Array;
  rand: () => number;
}

/** Approximately normal (Irwin–Hall of 4), mean 0, sd 1. */
function gauss(rand: () => number): number {
  return (rand() + rand() + rand() + rand() - 2) * Math.sqrt(3);
}

function buildProducts(count: number, categoryCount: number, rand: () => number): RetailProduct[] {
  const products: RetailProduct[] = [];
  for (let i = 0; i < count; i++) {
    const category = i % categoryCount;
    const c = retailCategory(category);
    const raw = c.baseCents * Math.exp(0.5 * gauss(rand));
    // Shelf prices end in .99.
    const priceCents = Math.max(99, Math.floor(raw / 100) * 100 + 99);
    products.push({ name: `${c.name} #${i + 1}`, category, priceCents });
  }
  return products;
}

/** Anchors among the popular products, each with a partner in the next category. */
function plantAffinities(
  products: RetailProduct[],
  categoryCount: number,
  byCategory: number[][],
  rank: Int32Array,
  rand: () => number,
): Array<{ anchor: number; partner: number }> {
  const pairs: Array<{ anchor: number; partner: number }> = [];
  if (products.length < 4) return pairs;
  const wanted = Math.min(25, Math.max(1, Math.floor(products.length / 20)));
  const used = new Uint8Array(products.length);
  // rank[r] = product at popularity rank r; anchors come from the top third.
  const anchorPool = Math.max(1, Math.floor(products.length / 3));
  for (let tries = 0; pairs.length < wanted && tries < wanted * 50; tries++) {
    const anchor = rank[Math.floor(rand() * anchorPool)];
    if (used[anchor]) continue;
    const partnerCategory = (products[anchor].category + 1) % categoryCount;
    const pool = byCategory[partnerCategory];
    const partner = pool[Math.floor(rand() * pool.length)];
    if (used[partner] || partner === anchor) continue;
    used[anchor] = 1;
    used[partner] = 1;
    pairs.push({ anchor, partner });
  }
  return pairs;
}

function stochasticRound(x: number, rand: () => number): number {
  const f = Math.floor(x);
  return f + (rand() < x - f ? 1 : 0);
}

/** Orders per customer, summing to at most `rows`. */
function planOrderCounts(
  persona: Uint8Array,
  rows: number,
  rand: () => number,
  average = AVERAGE_LINES,
): Uint32Array {
  const n = persona.length;
  const counts = new Uint32Array(n);
  let oneTime = 0;
  let weight = 0;
  for (let c = 0; c < n; c++) {
    if (persona[c] === ONE_TIME) oneTime++;
    else weight += ORDER_WEIGHT[persona[c]];
  }
  const target = Math.max(n, Math.round(rows / average));
  const scale = weight > 0 ? Math.max(0, target - oneTime) / weight : 0;
  let total = 0;
  for (let c = 0; c < n; c++) {
    const p = persona[c];
    counts[c] = p === ONE_TIME ? 1 : Math.max(2, stochasticRound(ORDER_WEIGHT[p] * scale, rand));
    total += counts[c];
  }
  // Repeat customers keep at least two orders; trim the others until every order has a line.
  for (let c = 0; total > rows; c = (c + 1) % n) {
    if (counts[c] > 2) {
      counts[c]--;
      total--;
    }
  }
  return counts;
}

/** Each customer's active window [start, end] in period days. */
function activeWindow(p: number, rand: () => number): [number, number] {
  const last = RETAIL_DAYS - 1;
  const lapsedEnd = Math.floor(LAPSED_END_SHARE * last);
  if (p === LAPSED) return [Math.floor(rand() * 0.25 * last), lapsedEnd];
  if (p === BIG_SPENDER) return [Math.floor(rand() * 0.3 * last), last];
  if (p === ONE_TIME) {
    const d = Math.floor(rand() * RETAIL_DAYS);
    return [d, d];
  }
  return [Math.floor(rand() * 0.6 * last), last];
}

/**
 * Lines per order, adjusted so that they sum to exactly `rows`. `stretch` scales the personas'
 * mean lines (`--lines-per-order`), with room above the mean for the geometric tail.
 */
function planLines(orderPersona: Uint8Array, rows: number, rand: () => number, stretch = 1): Uint16Array {
  const orders = orderPersona.length;
  const cap = Math.max(12, Math.ceil((stretch === 1 ? 1 : 8) * (rows / orders)));
  const lines = new Uint16Array(orders);
  let total = 0;
  for (let o = 0; o < orders; o++) {
    const p = 1 / (LINES_MEAN[orderPersona[o]] * stretch);
    let l = 1;
    while (l < cap && rand() >= p) l++;
    lines[o] = l;
    total += l;
  }
  // Sweeps from a seeded offset, one line per order per pass, until the total is exact.
  let o = Math.floor(rand() * orders);
  while (total !== rows) {
    if (total < rows && lines[o] < cap) {
      lines[o]++;
      total++;
    } else if (total > rows && lines[o] > 1) {
      lines[o]--;
      total--;
    }
    o = (o + 1) % orders;
  }
  return lines;
}

export function planRetail(opts: RetailPlanOptions): RetailPlan {
  const rand = mulberry32(seedState(opts.seed) ^ 0x5eed7e7a);
  const categoryCount = Math.min(opts.products, opts.categories ?? defaultCategories(opts.products));
  const products = buildProducts(opts.products, categoryCount, rand);
  const productsByCategory: number[][] = Array.from({ length: categoryCount }, () => []);
  for (let i = 0; i < products.length; i++) productsByCategory[products[i].category].push(i);

  // Zipf-like popularity over a seeded ranking.
  const rank = new Int32Array(products.length);
  for (let i = 0; i < rank.length; i++) rank[i] = i;
  for (let i = rank.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rank[i], rank[j]] = [rank[j], rank[i]];
  }
  const weights = new Float64Array(products.length);
  for (let r = 0; r < rank.length; r++) weights[rank[r]] = 1 / (r + 1) ** 0.8;
  const popularity = cumulate(weights);
  const affinities = plantAffinities(products, categoryCount, productsByCategory, rank, rand);
  const partner = new Int32Array(products.length).fill(-1);
  for (const { anchor, partner: p } of affinities) partner[anchor] = p;

  const stores = Math.min(50, Math.max(3, Math.round(opts.customers / 500)));
  const n = opts.customers;
  const shares = cumulate(PERSONA_SHARE);
  const persona = new Uint8Array(n);
  const homeStore = new Uint16Array(n);
  const favoriteCategory = new Uint8Array(n);
  for (let c = 0; c < n; c++) {
    persona[c] = pickWeighted(shares, rand());
    homeStore[c] = Math.floor(rand() * stores);
    favoriteCategory[c] = Math.floor(rand() * categoryCount);
  }
  const average = opts.linesPerOrder ?? AVERAGE_LINES;
  const counts = planOrderCounts(persona, opts.rows, rand, average);

  let orders = 0;
  for (let c = 0; c < n; c++) orders += counts[c];
  const unsortedCustomer = new Int32Array(orders);
  const unsortedDay = new Uint16Array(orders);
  const firstDay = new Int32Array(n).fill(RETAIL_DAYS);
  const perDay = new Uint32Array(RETAIL_DAYS + 1);
  for (let c = 0, o = 0; c < n; c++) {
    const [start, end] = activeWindow(persona[c], rand);
    for (let k = 0; k < counts[c]; k++, o++) {
      const day = start + Math.floor(rand() * (end - start + 1));
      unsortedCustomer[o] = c;
      unsortedDay[o] = day;
      perDay[day + 1]++;
      if (day < firstDay[c]) firstDay[c] = day;
    }
  }
  // A stable counting sort by day puts the orders in chronological order.
  for (let d = 1; d <= RETAIL_DAYS; d++) perDay[d] += perDay[d - 1];
  const orderCustomer = new Int32Array(orders);
  const orderDay = new Uint16Array(orders);
  const orderPersona = new Uint8Array(orders);
  for (let o = 0; o < orders; o++) {
    const at = perDay[unsortedDay[o]]++;
    orderCustomer[at] = unsortedCustomer[o];
    orderDay[at] = unsortedDay[o];
    orderPersona[at] = persona[unsortedCustomer[o]];
  }
  const orderLines = planLines(orderPersona, opts.rows, rand, average / AVERAGE_LINES);
  return {
    products,
    categoryCount,
    categoryNames: Array.from({ length: categoryCount }, (_, k) => retailCategory(k).name),
    productsByCategory,
    popularity,
    partner,
    affinities,
    stores,
    persona,
    homeStore,
    favoriteCategory,
    firstDay,
    orderCustomer,
    orderDay,
    orderLines,
    rand,
  };
}

/** The store an order is placed in: the customer's home store, or now and then another one. */
export function orderStore(plan: RetailPlan, customer: number): number {
  const r = plan.rand();
  return r < HOME_STORE_SHARE ? plan.homeStore[customer] : Math.floor(plan.rand() * plan.stores);
}
