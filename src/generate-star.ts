// Owns the seeded generator of star-schema fact files
// (customer_id,store_id,sales_date,sales_person_id,price,quantity,total_cost), the layout of
// test/fixtures/star-schema.csv at customer scale. Exactly `customers` distinct customers appear
// (when rows ≥ customers): first purchases are spread evenly through the file, and repeat purchases
// favour early customers steeply (u^3), so a few customers buy often and most rarely. Money is exact
// integer cents; the same options give the same bytes.

import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { mulberry32, seedState } from './generate/random.js';
import { formatCents } from './generate/row-bytes.js';

export interface StarOptions {
  rows: number;
  customers: number;
  seed: number;
  out: string;
  onProgress?: (rowsWritten: number, bytesWritten: number) => void;
}

export const STAR_HEADER = 'customer_id,store_id,sales_date,sales_person_id,price,quantity,total_cost';
const STORES = 20;
const SELLERS = 50;
const FIRST_DAY = Date.UTC(2023, 0, 1) / 86_400_000;
const DAYS = 731; // 2023-01-01 … 2025-01-01 exclusive
const ROWS_PER_WRITE = 20_000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Validates and returns a bijective scramble of 0 … n-1, so ids do not follow purchase frequency. */
function scramble(n: number): (i: number) => number {
  let a = Math.floor(n * 0.6180339887) | 1;
  while (gcd(a, n) !== 1) a += 2;
  const b = Math.floor(n / 3);
  // (i·a + b) mod n without passing 2^53: n ≤ 1e9 keeps i·a below 1e18, so split a.
  const aHi = Math.floor(a / 65536);
  const aLo = a % 65536;
  return (i) => (((((i * aHi) % n) * 65536) % n) + ((i * aLo) % n) + b) % n;
}

export async function generateStar(
  opts: StarOptions,
): Promise<{ rows: number; bytes: number; path: string }> {
  const { rows, customers, seed, out } = opts;
  if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError('rows must be a non-negative integer');
  if (!Number.isSafeInteger(customers) || customers < 1)
    throw new RangeError('customers must be a positive integer');
  const rand = mulberry32(seedState(seed));
  const width = Math.max(6, String(customers - 1).length);
  const id = scramble(customers);
  const dates: string[] = [];
  for (let d = 0; d < DAYS; d++)
    dates.push(new Date((FIRST_DAY + d) * 86_400_000).toISOString().slice(0, 10));
  await mkdir(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  const file = await open(tmp, 'w');
  let bytes = 0;
  let introduced = 0;
  try {
    let text = `${STAR_HEADER}\n`;
    for (let i = 0; i < rows; i++) {
      const left = rows - i;
      const fresh = customers - introduced;
      let c: number;
      if (fresh > 0 && (introduced === 0 || rand() * left < fresh)) c = introduced++;
      else c = Math.floor(introduced * rand() ** 3);
      const price = 100 + Math.floor(rand() * 49_900);
      const qty = 1 + Math.floor(rand() * 20);
      const store = 1 + Math.floor(rand() * STORES);
      const seller = 1 + Math.floor(rand() * SELLERS);
      const day = dates[Math.floor(rand() * DAYS)];
      text += `C${String(id(c)).padStart(width, '0')},S${store},${day},SP${String(seller).padStart(2, '0')},${formatCents(price)},${qty},${formatCents(price * qty)}\n`;
      if ((i + 1) % ROWS_PER_WRITE === 0 || i === rows - 1) {
        const buf = Buffer.from(text, 'latin1');
        await file.write(buf, 0, buf.length);
        bytes += buf.length;
        text = '';
        opts.onProgress?.(i + 1, bytes);
      }
    }
    if (rows === 0) {
      await file.write(text);
      bytes += text.length;
    }
    await file.close();
    await rename(tmp, out);
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  return { rows, bytes, path: out };
}
