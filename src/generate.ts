// Owns the seeded generator of CSV files in the reference "5m Sales Records" layout: its options,
// the row's parts encoded once, the hot loop that draws rows into large byte blocks (no per-row
// strings, so 5M rows take seconds) and the file written through a temporary name. Output is
// byte-identical for the same options and money is exact integer cents. What a row's fields hold
// is in generate/reference-model.ts.

import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { mulberry32, pickWeighted, seedState } from './generate/random.js';
import {
  buildMonthTable,
  CHANNELS,
  FIRST_ORDER_DAY,
  formatMdy,
  ITEM_TYPES,
  LAST_ORDER_DAY,
  MAX_SHIP_DELAY,
  type MonthSlot,
  ORDER_ID_MIN,
  ORDER_ID_SPAN,
  PRIORITIES,
  REFERENCE_HEADER,
  REGIONS,
  UNITS_MAX,
} from './generate/reference-model.js';
import { copyBytes, formatCents, writeAll, writeCents, writeUint } from './generate/row-bytes.js';

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

const BLOCK_BYTES = 4 * 1024 * 1024;
/** Longer than any row, so a row started below BLOCK_BYTES - ROW_MAX_BYTES always fits. */
const ROW_MAX_BYTES = 512;
const PROGRESS_EVERY_ROWS = 100_000;

const COMMA = 44;
const NEWLINE = 10;

function quoteIf(text: string, quote: boolean): string {
  return quote ? `"${text}"` : text;
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
