/**
 * Reads a file's header (csv-parse) and a sample (the workers' tokenizer and quote rule) and
 * decides the scan spec: delimiter, columns by flag or alias, date format, money precision,
 * decimal separator. Pure over bytes.
 */

import { parse } from 'csv-parse/sync';
import type { ColumnOptions } from '../config-columns.js';
import { InputError } from '../errors.js';
import { DEFAULT_MAX_FIELD_BYTES } from '../quote-limit.js';
import { type DateFormat, MAX_SCALE, type ScanSpec } from '../scan-spec.js';
import { Fields, fieldText, RECORD_OK, type RecordSink, tokenize } from '../worker/tokenizer.js';
import { customerColumns } from './customer-columns.js';
import { resolveOrderColumns } from './order-columns.js';

export interface Layout {
  spec: ScanSpec;
  header: string[];
  /** Byte offset where data starts (after the BOM and the header's line end). */
  dataStart: number;
  /** Line feeds inside the header record plus its own (usually 1). */
  headerLines: number;
  /** The sample holds a quoted field with a line break: cut chunks by quote parity from the start. */
  quotedNewlines: boolean;
  /** Human lines: what was detected, and warnings. */
  notes: string[];
  warnings: string[];
}

const BOM = [0xef, 0xbb, 0xbf];

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const ALIASES = {
  price: ['unitprice', 'price', 'priceeach', 'priceperunit', 'unitcostprice'],
  revenue: [
    'totalrevenue',
    'sales',
    'totalprice',
    'revenue',
    'amount',
    'purchaseamountusd',
    'purchaseamount',
    'totalsales',
    'linetotal',
    'totalamount',
    'salesamount',
    'total',
  ],
  quantity: ['unitssold', 'quantity', 'qty', 'units', 'quantityordered', 'unitsold'],
  date: [
    'orderdate',
    'date',
    'salesdate',
    'saledate',
    'invoicedate',
    'transactiondate',
    'purchasedate',
    'orderdatetime',
  ],
  dimensions: [
    'region',
    'itemtype',
    'saleschannel',
    'category',
    'productcategory',
    'customertype',
    'channel',
  ],
};

/** End of the header record (after its line end), or null when the sample holds no complete one. */
function firstRecordEnd(
  sample: Buffer,
  from: number,
  delim: number,
  complete: boolean,
  limit: number,
): { end: number; lines: number } | null {
  let result: { end: number; lines: number } | null = null;
  const sink: RecordSink = {
    record(_line, _nf, _start, end) {
      if (result === null) result = { end, lines: 0 };
    },
  };
  const body = sample.subarray(from);
  tokenize(body, body.length, delim, new Fields(1), sink, limit);
  if (result === null) return null;
  const r = result as { end: number; lines: number };
  let end = r.end;
  if (body[end] === 0x0d) end++;
  if (end < body.length && body[end] === 0x0a) end++;
  else if (end < body.length || !complete) return null;
  let lines = 0;
  for (let i = 0; i < end; i++) if (body[i] === 0x0a) lines++;
  return { end: from + end, lines };
}

/** Up to `max` good records of `fieldCount` fields from whole-record bytes, as strings. */
function sampleRecords(
  body: Uint8Array,
  delim: number,
  fieldCount: number,
  limit: number,
  max: number,
): string[][] {
  const fields = new Fields(fieldCount + 1);
  const rows: string[][] = [];
  const sink: RecordSink = {
    record(_line, nf, _start, _end, problem) {
      if (problem !== RECORD_OK || nf !== fieldCount || rows.length >= max) return;
      const row: string[] = [];
      for (let i = 0; i < nf; i++) row.push(fieldText(body, fields.start[i], fields.end[i], fields.flag[i]));
      rows.push(row);
    },
  };
  tokenize(body, body.length, delim, fields, sink, limit);
  return rows;
}

function guessDelimiter(firstLine: string): string {
  let best = ',';
  let bestCount = 0;
  for (const d of [',', ';', '\t', '|']) {
    let count = 0;
    let quoted = false;
    for (const ch of firstLine) {
      if (ch === '"') quoted = !quoted;
      else if (!quoted && ch === d) count++;
    }
    if (count > bestCount) {
      best = d;
      bestCount = count;
    }
  }
  return best;
}

function findColumn(header: string[], option: string, wanted: string): number {
  const exact = header.indexOf(wanted);
  if (exact >= 0) return exact;
  const norm = normalizeName(wanted);
  const hits = header.map((h, i) => [normalizeName(h), i] as const).filter(([h]) => h === norm);
  if (hits.length === 1) return hits[0][1];
  throw new InputError(
    `${option} "${wanted}" is not a column of this file; its columns are: ${header.join(', ')}`,
    'E_COLUMNS',
  );
}

/** The column matching one of `aliases`; -1 if none. Two different matching columns are ambiguous. */
function findAlias(header: string[], aliases: string[], path: string, role: string, option: string): number {
  const norm = header.map(normalizeName);
  const hits = header.map((_, i) => i).filter((i) => aliases.includes(norm[i]));
  if (hits.length > 1) {
    throw new InputError(
      `${path}: more than one column could be the ${role} (${hits.map((i) => `"${header[i]}"`).join(', ')}); choose one with ${option}. Columns: ${header.join(', ')}`,
      'E_COLUMNS',
    );
  }
  return hits[0] ?? -1;
}

const DMY_RE = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T].*)?$/;
const YMD_RE = /^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})(?:[ T].*)?$/;

/** The one date format that fits every sample value, or why not. */
export function detectDateFormat(values: string[]): DateFormat | 'ambiguous' | 'unknown' {
  let ymd = 0;
  let dm = 0;
  // Values that fit only one order vote for it; a value that fits neither is a bad row (rejected
  // later by the workers) and does not decide the format.
  let onlyMdy = 0;
  let onlyDmy = 0;
  for (const raw of values) {
    const v = raw.trim();
    if (v === '') continue;
    if (YMD_RE.test(v)) {
      ymd++;
      continue;
    }
    const m = DMY_RE.exec(v);
    if (!m) continue;
    dm++;
    const a = Number(m[1]);
    const b = Number(m[2]);
    const mdy = a >= 1 && a <= 12 && b >= 1 && b <= 31;
    const dmy = b >= 1 && b <= 12 && a >= 1 && a <= 31;
    if (mdy && !dmy) onlyMdy++;
    if (dmy && !mdy) onlyDmy++;
  }
  if (ymd > 0 && ymd >= dm) return 'ymd';
  if (dm > 0) {
    if (onlyMdy > 0 && onlyDmy === 0) return 'mdy';
    if (onlyDmy > 0 && onlyMdy === 0) return 'dmy';
    if (onlyMdy === 0 && onlyDmy === 0) return 'ambiguous';
  }
  return 'unknown';
}

function decimalsOf(value: string, decimalComma: boolean): number {
  const v = value.trim();
  const point = decimalComma ? ',' : '.';
  const at = v.lastIndexOf(point);
  if (at < 0) return 0;
  return v.length - at - 1;
}

function looksDecimalComma(values: string[]): boolean {
  let comma = 0;
  let point = 0;
  for (const v of values) {
    const t = v.trim();
    // "2.500" fits both a decimal point and a thousands dot: it decides nothing.
    if (/^-?\$?\d{1,3}(\.\d{3})+$/.test(t)) continue;
    if (/^-?\$?\d{1,3}(\.\d{3})*,\d+$/.test(t) || /^-?\$?\d+,\d+$/.test(t)) comma++;
    else if (/^-?\$?\d{1,3}(,\d{3})*\.\d+$/.test(t) || /^-?\$?\d+\.\d+$/.test(t)) point++;
  }
  return comma > 0 && point === 0;
}

export interface SampleInput {
  /** The file's first bytes. */
  bytes: Buffer;
  /** True when `bytes` holds the whole file. */
  complete: boolean;
  path: string;
}

/** Decides the layout from the file's first bytes; throws InputError (exit 2) on a bad file. */
export function detectLayout(input: SampleInput, options: ColumnOptions): Layout {
  const { bytes, path } = input;
  if (bytes.length === 0) throw new InputError(`${path} is empty: expected a header line`);
  const bomLength = BOM.every((b, i) => bytes[i] === b) ? 3 : 0;
  const firstNl = bytes.indexOf(0x0a, bomLength);
  const firstLine = bytes.toString('utf8', bomLength, firstNl < 0 ? bytes.length : firstNl);
  const delimiter = options.delimiter ?? guessDelimiter(firstLine);
  const delimByte = delimiter.charCodeAt(0);
  const limit = options.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  const headerEnd = firstRecordEnd(bytes, bomLength, delimByte, input.complete, limit);
  let dataStart: number;
  let headerLines: number;
  if (headerEnd === null) {
    if (!input.complete)
      throw new InputError(`${path}: the header is longer than the first ${bytes.length} bytes`);
    dataStart = bytes.length;
    headerLines = 1;
  } else {
    dataStart = headerEnd.end;
    headerLines = headerEnd.lines;
  }
  let header: string[];
  try {
    const recs = parse(bytes.subarray(bomLength, dataStart), {
      delimiter,
      to: 1,
      relax_column_count: true,
    }) as string[][];
    header = recs[0] ?? [];
  } catch (err) {
    throw new InputError(`${path}: cannot read the header: ${(err as Error).message}`);
  }
  header = header.map((h) => h.trim());
  if (header.length < 2 || header.every((h) => h === '')) {
    throw new InputError(
      `${path}: the first line is not a CSV header (found ${JSON.stringify(firstLine.slice(0, 80))})`,
    );
  }
  if (header.some((h) => /^-?\$?[\d.,]+$/.test(h) && h !== '')) {
    throw new InputError(
      `${path}: the first line looks like data, not a header (${JSON.stringify(firstLine.slice(0, 80))}); a header line is required`,
    );
  }

  // Sample rows: whole records only, read by the workers' own tokenizer and quote rule, so a
  // stray quote costs the sample one line, as it costs the run. Malformed records are skipped.
  let end = input.complete ? bytes.length : bytes.lastIndexOf(0x0a) + 1;
  if (end < dataStart) end = dataStart;
  const sample = sampleRecords(bytes.subarray(dataStart, end), delimByte, header.length, limit, 1000);
  const column = (i: number) => sample.map((r) => r[i] ?? '');

  const notes: string[] = [];
  const warnings: string[] = [];
  const pick = (option: string, flag: string | undefined, aliases: string[], role: string) =>
    flag !== undefined ? findColumn(header, option, flag) : findAlias(header, aliases, path, role, option);

  let price = pick('--price', options.price, ALIASES.price, 'unit price');
  let revenueCol: number;
  try {
    revenueCol = pick('--revenue', options.revenue, ALIASES.revenue, 'line total');
  } catch (err) {
    // With a unit price, a line total only feeds the consistency warning: no need to refuse.
    if (price < 0 || options.revenue !== undefined) throw err;
    revenueCol = -1;
  }
  const quantity = pick('--quantity', options.quantity, ALIASES.quantity, 'quantity');
  const date = pick('--date', options.date, ALIASES.date, 'date');
  if (price >= 0 && price === revenueCol) price = -1;
  if (price < 0 && revenueCol < 0) {
    throw new InputError(
      `${path}: no price or line-total column found; name one with --price or --revenue. Columns: ${header.join(', ')}`,
      'E_COLUMNS',
    );
  }
  // With a unit price, revenue is price × quantity unless --revenue says to use the line total.
  const useRevenue = options.revenue !== undefined || price < 0;
  const revenue = useRevenue ? revenueCol : -1;

  const moneyCols = [price, revenue, useRevenue ? -1 : revenueCol].filter((i) => i >= 0);
  const moneyValues = moneyCols.flatMap((i) => column(i));
  const decimalComma = delimiter !== ',' && looksDecimalComma(moneyValues);
  let scale = 2;
  for (const v of moneyValues) scale = Math.max(scale, Math.min(MAX_SCALE, decimalsOf(v, decimalComma)));

  let dateFormat: DateFormat | null = null;
  if (date >= 0) {
    if (options.dateFormat !== undefined) dateFormat = options.dateFormat;
    else {
      const found = detectDateFormat(column(date));
      if (found === 'ambiguous') {
        throw new InputError(
          `${path}: dates in "${header[date]}" fit both month/day and day/month; pass --date-format mdy or dmy`,
          'E_COLUMNS',
        );
      }
      if (found === 'unknown') {
        if (sample.length > 0) {
          throw new InputError(
            `${path}: cannot tell the date format of "${header[date]}" (e.g. ${JSON.stringify(column(date)[0])}); pass --date-format mdy, dmy or ymd`,
            'E_COLUMNS',
          );
        }
        dateFormat = 'ymd';
      } else dateFormat = found;
    }
  }

  let dimensions: { name: string; index: number }[];
  if (options.dimensions !== undefined) {
    dimensions = options.dimensions.map((d) => ({
      name: header[findColumn(header, '--dimension', d)],
      index: findColumn(header, '--dimension', d),
    }));
  } else {
    const norm = header.map(normalizeName);
    dimensions = header
      .map((name, index) => ({ name, index }))
      .filter((d) => ALIASES.dimensions.includes(norm[d.index]));
  }
  const seen = new Set<number>();
  dimensions = dimensions.filter((d) => !seen.has(d.index) && seen.add(d.index));
  const martSeen = new Set<number>();
  const marts = (options.marts ?? [])
    .map((m) => {
      const index = findColumn(header, '--mart', m);
      return { name: header[index], index };
    })
    .filter((d) => !martSeen.has(d.index) && martSeen.add(d.index));

  const { notes: customerNotes, ...customerCols } = customerColumns(header, options);
  const orderCols = resolveOrderColumns(header, path, options);
  const names = header.map(() => '');
  for (const i of [price, quantity, revenue, date, revenueCol, ...Object.values(customerCols)])
    if (i >= 0) names[i] = header[i];
  for (const d of [...dimensions, ...marts]) names[d.index] = d.name;
  for (const i of [orderCols.order, orderCols.item]) if (i !== undefined) names[i] = header[i];

  if (!useRevenue && revenueCol >= 0 && quantity >= 0) {
    const mismatches = countTotalMismatches(sample, price, quantity, revenueCol, decimalComma);
    if (mismatches > 0) {
      warnings.push(
        `"${header[revenueCol]}" differs from "${header[price]}" × "${header[quantity]}" in ${mismatches} of ${sample.length} sampled rows; revenue is computed as price × quantity (pass --revenue "${header[revenueCol]}" to use the line total)`,
      );
    }
  }

  const delimName = delimiter === '\t' ? 'tab' : delimiter;
  notes.push(
    `delimiter ${JSON.stringify(delimName)}, ${header.length} columns${bomLength ? ', UTF-8 BOM' : ''}`,
  );
  if (price >= 0) notes.push(`unit price: "${header[price]}"`);
  notes.push(quantity >= 0 ? `quantity: "${header[quantity]}"` : 'quantity: none (1 per row)');
  notes.push(
    revenue >= 0
      ? `revenue: line total "${header[revenue]}"${price < 0 ? ' (price statistics are over the line amount)' : ''}`
      : `revenue: "${header[price]}" × ${quantity >= 0 ? `"${header[quantity]}"` : '1'}`,
  );
  notes.push(
    date >= 0 ? `date: "${header[date]}" (${dateFormat})` : 'date: none (no monthly or yearly results)',
  );
  notes.push(`dimensions: ${dimensions.length ? dimensions.map((d) => `"${d.name}"`).join(', ') : 'none'}`);
  if (marts.length > 0)
    notes.push(`marts: ${marts.map((d) => `"${d.name}"`).join(', ')} per ${date >= 0 ? 'month' : 'run'}`);
  notes.push(...customerNotes);
  notes.push(`money precision: ${scale} decimals${decimalComma ? ', decimal comma' : ''}`);
  notes.push(...orderCols.notes);

  return {
    spec: {
      delimiter: delimByte,
      fieldCount: header.length,
      price,
      quantity,
      revenue,
      date,
      dateFormat,
      decimalComma,
      scale,
      dimensions,
      marts,
      maxKeys: options.maxKeys,
      names,
      maxFieldBytes: limit,
      ...customerCols,
      // The order column costs a worker nothing unless customers or baskets use it.
      ...(orderCols.order === undefined ||
      (customerCols.customer === undefined && orderCols.item === undefined)
        ? {}
        : { order: orderCols.order }),
      ...(orderCols.item === undefined ? {} : { item: orderCols.item, basketItems: orderCols.basketItems }),
      ...(orderCols.shipAllOrders === true ? { shipAllOrders: true } : {}),
    },
    header,
    dataStart,
    headerLines,
    quotedNewlines: headerLines > 1 || sample.some((r) => r.some((f) => f.includes('\n'))),
    notes,
    warnings,
  };
}

function toCents(v: string, decimalComma: boolean): [bigint, number] | null {
  let t = v.trim().replace('$', '');
  t = decimalComma ? t.replaceAll('.', '').replace(',', '.') : t.replaceAll(',', '');
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(t);
  if (!m) return null;
  const frac = m[3] ?? '';
  const n = BigInt(m[2] + frac);
  return [m[1] ? -n : n, frac.length];
}

function countTotalMismatches(
  rows: string[][],
  price: number,
  qty: number,
  total: number,
  dc: boolean,
): number {
  let bad = 0;
  for (const r of rows) {
    const p = toCents(r[price], dc);
    const q = toCents(r[qty], dc);
    const t = toCents(r[total], dc);
    if (!p || !q || !t) continue;
    const lhsScale = p[1] + q[1];
    const s = Math.max(lhsScale, t[1]);
    const lhs = p[0] * q[0] * 10n ** BigInt(s - lhsScale);
    const rhs = t[0] * 10n ** BigInt(s - t[1]);
    if (lhs !== rhs) bad++;
  }
  return bad;
}
