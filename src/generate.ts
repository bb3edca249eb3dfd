// Owns the seeded generator of CSV files in the reference "5m Sales Records" layout. Output is
// byte-identical for the same options, money is exact integer cents, and rows are written into
// large byte blocks (no per-row strings) so that 5M rows take seconds.

import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface GenerateOptions {
  rows: number;
  seed: number;
  out: string;
  quoteText?: boolean;
  onProgress?: (rowsWritten: number, bytesWritten: number) => void;
}

export interface GenerateResult {
  rows: number;
  bytes: number;
  path: string;
}

export const REFERENCE_HEADER =
  'Region,Country,Item Type,Sales Channel,Order Priority,Order Date,Order ID,Ship Date,' +
  'Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit';

export const REGIONS: ReadonlyArray<{ name: string; countries: readonly string[] }> = [
  {
    name: 'Sub-Saharan Africa',
    countries: [
      'Angola',
      'Benin',
      'Botswana',
      'Burkina Faso',
      'Burundi',
      'Cameroon',
      'Cape Verde',
      'Central African Republic',
      'Chad',
      'Comoros',
      'Republic of the Congo',
      'Democratic Republic of the Congo',
      'Ivory Coast',
      'Equatorial Guinea',
      'Eritrea',
      'Ethiopia',
      'Gabon',
      'The Gambia',
      'Ghana',
      'Guinea',
      'Guinea-Bissau',
      'Kenya',
      'Lesotho',
      'Liberia',
      'Madagascar',
      'Malawi',
      'Mali',
      'Mauritania',
      'Mauritius',
      'Mozambique',
      'Namibia',
      'Niger',
      'Nigeria',
      'Rwanda',
      'Sao Tome and Principe',
      'Senegal',
      'Seychelles',
      'Sierra Leone',
      'South Africa',
      'South Sudan',
      'Sudan',
      'Swaziland',
      'Tanzania',
      'Togo',
      'Uganda',
      'Zambia',
      'Zimbabwe',
    ],
  },
  {
    name: 'Europe',
    countries: [
      'Albania',
      'Andorra',
      'Armenia',
      'Austria',
      'Belarus',
      'Belgium',
      'Bosnia and Herzegovina',
      'Bulgaria',
      'Croatia',
      'Cyprus',
      'Czech Republic',
      'Denmark',
      'Estonia',
      'Finland',
      'France',
      'Georgia',
      'Germany',
      'Greece',
      'Hungary',
      'Iceland',
      'Ireland',
      'Italy',
      'Kosovo',
      'Latvia',
      'Liechtenstein',
      'Lithuania',
      'Luxembourg',
      'Macedonia',
      'Malta',
      'Moldova',
      'Monaco',
      'Montenegro',
      'Netherlands',
      'Norway',
      'Poland',
      'Portugal',
      'Romania',
      'Russia',
      'San Marino',
      'Serbia',
      'Slovakia',
      'Slovenia',
      'Spain',
      'Sweden',
      'Switzerland',
      'Ukraine',
      'United Kingdom',
      'Vatican City',
    ],
  },
  {
    name: 'Asia',
    countries: [
      'Bangladesh',
      'Bhutan',
      'Brunei',
      'Cambodia',
      'China',
      'East Timor',
      'India',
      'Indonesia',
      'Japan',
      'Kazakhstan',
      'Kyrgyzstan',
      'Laos',
      'Malaysia',
      'Maldives',
      'Mongolia',
      'Myanmar',
      'Nepal',
      'North Korea',
      'Philippines',
      'Singapore',
      'South Korea',
      'Sri Lanka',
      'Taiwan',
      'Tajikistan',
      'Thailand',
      'Turkmenistan',
      'Uzbekistan',
      'Vietnam',
    ],
  },
  {
    name: 'Middle East and North Africa',
    countries: [
      'Afghanistan',
      'Algeria',
      'Azerbaijan',
      'Bahrain',
      'Djibouti',
      'Egypt',
      'Iran',
      'Iraq',
      'Israel',
      'Jordan',
      'Kuwait',
      'Lebanon',
      'Libya',
      'Morocco',
      'Oman',
      'Pakistan',
      'Qatar',
      'Saudi Arabia',
      'Somalia',
      'Syria',
      'Tunisia',
      'Turkey',
      'United Arab Emirates',
      'Yemen',
    ],
  },
  {
    name: 'Central America and the Caribbean',
    countries: [
      'Antigua and Barbuda',
      'The Bahamas',
      'Barbados',
      'Belize',
      'Costa Rica',
      'Cuba',
      'Dominica',
      'Dominican Republic',
      'El Salvador',
      'Grenada',
      'Guatemala',
      'Haiti',
      'Honduras',
      'Jamaica',
      'Mexico',
      'Nicaragua',
      'Panama',
      'Saint Kitts and Nevis',
      'Saint Lucia',
      'Saint Vincent and the Grenadines',
      'Trinidad and Tobago',
    ],
  },
  {
    name: 'Australia and Oceania',
    countries: [
      'Australia',
      'Federated States of Micronesia',
      'Fiji',
      'Kiribati',
      'Marshall Islands',
      'Nauru',
      'New Zealand',
      'Palau',
      'Papua New Guinea',
      'Samoa',
      'Solomon Islands',
      'Tonga',
      'Tuvalu',
      'Vanuatu',
    ],
  },
  {
    name: 'North America',
    countries: ['Canada', 'Greenland', 'United States of America'],
  },
];

/** Unit price and unit cost in integer cents, as fixed in the original dataset. */
export const ITEM_TYPES: ReadonlyArray<{ name: string; priceCents: number; costCents: number }> = [
  { name: 'Beverages', priceCents: 4745, costCents: 3179 },
  { name: 'Fruits', priceCents: 933, costCents: 692 },
  { name: 'Vegetables', priceCents: 15406, costCents: 9093 },
  { name: 'Baby Food', priceCents: 25528, costCents: 15942 },
  { name: 'Cereal', priceCents: 20570, costCents: 11711 },
  { name: 'Meat', priceCents: 42189, costCents: 36469 },
  { name: 'Snacks', priceCents: 15258, costCents: 9744 },
  { name: 'Personal Care', priceCents: 8173, costCents: 5667 },
  { name: 'Household', priceCents: 66827, costCents: 50254 },
  { name: 'Clothes', priceCents: 10928, costCents: 3584 },
  { name: 'Cosmetics', priceCents: 43720, costCents: 26333 },
  { name: 'Office Supplies', priceCents: 65121, costCents: 52496 },
];

const CHANNELS = ['Online', 'Offline'];
const PRIORITIES = ['H', 'M', 'L', 'C'];

/** Order dates run from 2010-01-01 to 2017-07-28 (UTC days), ship dates up to 50 days later. */
const FIRST_ORDER_DAY = Date.UTC(2010, 0, 1) / 86_400_000;
const LAST_ORDER_DAY = Date.UTC(2017, 6, 28) / 86_400_000;
const MAX_SHIP_DELAY = 50;

/** Relative order volume per calendar month: a mid-year bump and a November/December peak. */
const MONTH_WEIGHTS = [0.85, 0.8, 0.95, 0.95, 1.0, 1.1, 1.15, 1.05, 0.95, 1.0, 1.25, 1.45];
const YEARLY_GROWTH = 0.04;

const UNITS_MAX = 10_000;
const ORDER_ID_MIN = 100_000_000;
const ORDER_ID_SPAN = 900_000_000;

const BLOCK_BYTES = 4 * 1024 * 1024;
/** Longer than any row, so a row started below BLOCK_BYTES - ROW_MAX_BYTES always fits. */
const ROW_MAX_BYTES = 512;
const PROGRESS_EVERY_ROWS = 100_000;

const COMMA = 44;
const DOT = 46;
const NEWLINE = 10;

/** mulberry32: a 32-bit-state PRNG, returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Folds both 32-bit halves of a safe integer into one 32-bit state, so large seeds differ too. */
export function seedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4_294_967_296) >>> 0;
  return (Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b) ^ lo) >>> 0;
}

/** M/D/YYYY without zero padding, from a UTC day number. */
export function formatMdy(day: number): string {
  const d = new Date(day * 86_400_000);
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()}`;
}

/** Integer cents as decimal text with exactly two decimals. */
export function formatCents(cents: number): string {
  const frac = cents % 100;
  return `${(cents - frac) / 100}.${frac < 10 ? '0' : ''}${frac}`;
}

function quoteIf(text: string, quote: boolean): string {
  return quote ? `"${text}"` : text;
}

interface MonthSlot {
  firstDay: number;
  days: number;
}

/**
 * Months in the order-date range with cumulative weights. A partial last month is weighted by
 * the share of its days inside the range.
 */
function buildMonthTable(): { slots: MonthSlot[]; cumulative: Float64Array } {
  const slots: MonthSlot[] = [];
  const weights: number[] = [];
  const first = new Date(FIRST_ORDER_DAY * 86_400_000);
  for (let y = first.getUTCFullYear(), m = first.getUTCMonth(); ; m++) {
    if (m === 12) {
      m = 0;
      y++;
    }
    const monthStart = Date.UTC(y, m, 1) / 86_400_000;
    if (monthStart > LAST_ORDER_DAY) break;
    const monthDays = Date.UTC(y, m + 1, 1) / 86_400_000 - monthStart;
    const firstDay = Math.max(monthStart, FIRST_ORDER_DAY);
    const days = Math.min(monthStart + monthDays - 1, LAST_ORDER_DAY) - firstDay + 1;
    const trend = 1 + YEARLY_GROWTH * (y - first.getUTCFullYear());
    slots.push({ firstDay, days });
    weights.push((MONTH_WEIGHTS[m] * trend * days) / monthDays);
  }
  const cumulative = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i];
    cumulative[i] = sum;
  }
  for (let i = 0; i < cumulative.length; i++) cumulative[i] /= sum;
  return { slots, cumulative };
}

/** First index whose cumulative weight exceeds r (r in [0, 1)). */
function pickWeighted(cumulative: Float64Array, r: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Every byte sequence a row is assembled from, encoded once. */
interface RowParts {
  /** `Region,Country,Item Type,` indexed by country * ITEM_TYPES.length + item. */
  prefixes: Buffer[];
  countryCount: number;
  /** `Channel,Priority,` indexed by channel * PRIORITIES.length + priority. */
  channelPriority: Buffer[];
  /** Date text plus a trailing comma, indexed by day - FIRST_ORDER_DAY. */
  dates: Buffer[];
  /** `,Unit Price,Unit Cost,` per item. */
  prices: Buffer[];
}

function buildRowParts(quote: boolean): RowParts {
  const prefixes: Buffer[] = [];
  let countryCount = 0;
  for (const region of REGIONS) {
    for (const country of region.countries) {
      countryCount++;
      for (const item of ITEM_TYPES) {
        const fields = [region.name, country, item.name].map((f) => quoteIf(f, quote));
        prefixes.push(Buffer.from(`${fields.join(',')},`, 'latin1'));
      }
    }
  }
  const channelPriority: Buffer[] = [];
  for (const channel of CHANNELS) {
    for (const priority of PRIORITIES) {
      channelPriority.push(Buffer.from(`${quoteIf(channel, quote)},${quoteIf(priority, quote)},`));
    }
  }
  const dates: Buffer[] = [];
  for (let day = FIRST_ORDER_DAY; day <= LAST_ORDER_DAY + MAX_SHIP_DELAY; day++) {
    dates.push(Buffer.from(`${quoteIf(formatMdy(day), quote)},`));
  }
  const prices = ITEM_TYPES.map((item) =>
    Buffer.from(`,${formatCents(item.priceCents)},${formatCents(item.costCents)},`),
  );
  return { prefixes, countryCount, channelPriority, dates, prices };
}

export function copyBytes(buf: Buffer, pos: number, src: Buffer): number {
  for (let i = 0; i < src.length; i++) buf[pos + i] = src[i];
  return pos + src.length;
}

/** Writes a non-negative integer in decimal. */
export function writeUint(buf: Buffer, pos: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
  let p = pos + len;
  do {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + n - q * 10;
    n = q;
  } while (n > 0);
  return pos + len;
}

export function writeCents(buf: Buffer, pos: number, cents: number): number {
  const whole = Math.floor(cents / 100);
  const frac = cents - whole * 100;
  pos = writeUint(buf, pos, whole);
  buf[pos] = DOT;
  buf[pos + 1] = 48 + Math.floor(frac / 10);
  buf[pos + 2] = 48 + (frac % 10);
  return pos + 3;
}

function validate(opts: GenerateOptions): void {
  if (!Number.isSafeInteger(opts.rows) || opts.rows < 0) {
    throw new RangeError(`rows must be a non-negative integer, got ${opts.rows}`);
  }
  if (!Number.isSafeInteger(opts.seed)) {
    throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  }
  if (!opts.out) throw new RangeError('out must be a file path');
}

interface RowSource {
  parts: RowParts;
  months: { slots: MonthSlot[]; cumulative: Float64Array };
  rand: () => number;
}

/**
 * Appends rows to buf from pos until the block is nearly full or maxRows are written.
 * Kept synchronous with only local state so that the hot loop optimizes well.
 */
function fillBlock(buf: Buffer, pos: number, src: RowSource, maxRows: number): { pos: number; rows: number } {
  const { parts, months, rand } = src;
  const itemCount = ITEM_TYPES.length;
  const limit = buf.length - ROW_MAX_BYTES;
  let rows = 0;
  while (rows < maxRows && pos <= limit) {
    const country = Math.floor(rand() * parts.countryCount);
    const item = Math.floor(rand() * itemCount);
    const channelPriority = Math.floor(rand() * parts.channelPriority.length);
    const slot = months.slots[pickWeighted(months.cumulative, rand())];
    const orderDay = slot.firstDay + Math.floor(rand() * slot.days) - FIRST_ORDER_DAY;
    const shipDay = orderDay + Math.floor(rand() * (MAX_SHIP_DELAY + 1));
    const orderId = ORDER_ID_MIN + Math.floor(rand() * ORDER_ID_SPAN);
    const units = 1 + Math.floor(rand() * UNITS_MAX);
    const { priceCents, costCents } = ITEM_TYPES[item];
    const revenue = units * priceCents;
    const cost = units * costCents;

    pos = copyBytes(buf, pos, parts.prefixes[country * itemCount + item]);
    pos = copyBytes(buf, pos, parts.channelPriority[channelPriority]);
    pos = copyBytes(buf, pos, parts.dates[orderDay]);
    pos = writeUint(buf, pos, orderId);
    buf[pos++] = COMMA;
    pos = copyBytes(buf, pos, parts.dates[shipDay]);
    pos = writeUint(buf, pos, units);
    pos = copyBytes(buf, pos, parts.prices[item]);
    pos = writeCents(buf, pos, revenue);
    buf[pos++] = COMMA;
    pos = writeCents(buf, pos, cost);
    buf[pos++] = COMMA;
    pos = writeCents(buf, pos, revenue - cost);
    buf[pos++] = NEWLINE;
    rows++;
  }
  return { pos, rows };
}

export async function writeAll(file: FileHandle, buf: Buffer, length: number): Promise<void> {
  let offset = 0;
  while (offset < length) {
    const { bytesWritten } = await file.write(buf, offset, length - offset);
    offset += bytesWritten;
  }
}

function headerLine(quote: boolean): string {
  const names = quote ? REFERENCE_HEADER.split(',').map((h) => `"${h}"`) : [REFERENCE_HEADER];
  return `${names.join(',')}\n`;
}

export async function generateCsv(opts: GenerateOptions): Promise<GenerateResult> {
  validate(opts);
  const quote = opts.quoteText === true;
  const src: RowSource = {
    parts: buildRowParts(quote),
    months: buildMonthTable(),
    rand: mulberry32(seedState(opts.seed)),
  };

  await mkdir(path.dirname(opts.out), { recursive: true });
  const tmp = `${opts.out}.tmp`;
  const file = await open(tmp, 'w');
  // Two blocks alternate: one is filled while the other is being written.
  const blocks = [Buffer.allocUnsafe(BLOCK_BYTES), Buffer.allocUnsafe(BLOCK_BYTES)];
  let pending: Promise<void> = Promise.resolve();
  let bytes = 0;
  try {
    let current = 0;
    let pos = blocks[0].write(headerLine(quote), 0, 'latin1');
    let rowsDone = 0;
    for (;;) {
      // Blocks stop at multiples of PROGRESS_EVERY_ROWS, so progress lands on round numbers.
      const nextReport = Math.min(
        opts.rows,
        rowsDone - (rowsDone % PROGRESS_EVERY_ROWS) + PROGRESS_EVERY_ROWS,
      );
      const filled = fillBlock(blocks[current], pos, src, nextReport - rowsDone);
      rowsDone += filled.rows;
      await pending;
      pending = writeAll(file, blocks[current], filled.pos);
      pending.catch(() => undefined); // awaited later; this only marks it handled meanwhile
      bytes += filled.pos;
      current ^= 1;
      pos = 0;
      if (rowsDone === nextReport) opts.onProgress?.(rowsDone, bytes);
      if (rowsDone === opts.rows) break;
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
  return { rows: opts.rows, bytes, path: opts.out };
}
