/**
 * The data-column options of `run` and `coordinator` (columns, customers, orders and baskets,
 * `--join`): declared once in the tables cli.ts adds, validated here with a message that names the
 * bad option, and frozen. Their other options are in config.ts.
 */
import path from 'node:path';
import { parseDateFormat, parseDelimiter, parseIntOption, parseSize } from './config-values.js';
import { UsageError } from './errors.js';
import { DEFAULT_MAX_FIELD_BYTES, MAX_MAX_FIELD_BYTES } from './quote-limit.js';
import type { DateFormat } from './scan-spec.js';

export const DEFAULT_MAX_KEYS = 1_000_000;

/** Column choices shared by `coordinator` and `run`. Undefined means "detect". */
export interface ColumnOptions {
  price?: string;
  quantity?: string;
  revenue?: string;
  date?: string;
  dateFormat?: DateFormat;
  dimensions?: string[];
  marts?: string[];
  delimiter?: string;
  maxKeys: number;
  /** Most bytes a quoted field may hold before its quote is judged broken (`--max-field-bytes`; default 1 MiB). */
  maxFieldBytes?: number;
  /** `--customer`, `--category`: per-customer features (undefined: detected). */
  customer?: string;
  category?: string;
  /** `--no-customers`: no customers table even when a customer column is detected. */
  noCustomers?: boolean;
  /** Order id column (`--order`); undefined means detect (ORDER_ALIASES). */
  order?: string;
  /** Basket item column (`--item`); with it, orders and baskets are counted. */
  item?: string;
  /** `--basket`: count orders and baskets with both columns detected. */
  basket?: boolean;
  /** `--basket-items`: pairs among this many most frequent items. */
  basketItems?: number;
  /** `--orders-scattered`: orders may be spread over the file; ship every order's items. */
  ordersScattered?: boolean;
}

/** Order id columns detected, in this order (exact header first, then any case). */
export const ORDER_ALIASES = ['order_id', 'Order ID', 'InvoiceNo'];
/** Basket item columns detected with `--basket`, in this order: the finest grain first. */
export const ITEM_ALIASES = ['product', 'Product ID', 'StockCode', 'category', 'Sub-Category'];
export const DEFAULT_BASKET_ITEMS = 1000;
/** The pair matrix of the end of a run is K² 32-bit counts: 2,000 items take 16 MB. */
export const MAX_BASKET_ITEMS = 2000;

/** A row of an option table: cli.ts adds `flags` with `description` and `default`, collecting repeats when `repeatable`. */
export interface OptionRow {
  flags: string;
  description: string;
  default?: string;
  repeatable?: true;
}

/**
 * The column options of `run` and `coordinator`, declared once, in their help order: the
 * per-customer columns, the value and key columns, then orders and baskets.
 */
export const COLUMN_OPTION_TABLE: readonly OptionRow[] = [
  {
    flags: '--customer <col>',
    description:
      'customer column: the run also builds the customers table for `segment` (default: detected customer_id, Customer ID, CustomerID, customer)',
  },
  {
    flags: '--category <col>',
    description: "category column, for each customer's revenue per top category (default: detected category)",
  },
  { flags: '--no-customers', description: 'no customers table even when a customer column is detected' },
  { flags: '--price <col>', description: 'unit price column (default: detected from common names)' },
  { flags: '--quantity <col>', description: 'quantity column (default: detected; 1 per row when absent)' },
  {
    flags: '--revenue <col>',
    description: "line-total column to use as each row's revenue instead of price × quantity",
  },
  { flags: '--date <col>', description: 'date column for monthly/yearly results (default: detected)' },
  { flags: '--date-format <fmt>', description: 'mdy, dmy or ymd (default: detected from a sample)' },
  {
    flags: '--dimension <col>',
    description: 'a column to break revenue down by (repeatable)',
    repeatable: true,
  },
  { flags: '--delimiter <d>', description: 'field delimiter: , ; | or tab (default: detected)' },
  {
    flags: '--mart <col>',
    description: 'also aggregate revenue per (value of this column, month), for `top` (repeatable)',
    repeatable: true,
  },
  {
    flags: '--max-keys <n>',
    description:
      'most distinct values of a dimension or mart within one chunk (a guard: runs hold no keys in memory)',
    default: '1000000',
  },
  {
    flags: '--max-field-bytes <size>',
    description:
      'most bytes a quoted field may hold; a quote still open past this is judged broken and its line rejected',
    default: '1MiB',
  },
  {
    flags: '--order <col>',
    description: `order id column, for distinct orders per customer (else distinct purchase days) and baskets (default: detected: ${ORDER_ALIASES.join(', ')})`,
  },
  {
    flags: '--item <col>',
    description: 'count orders and market baskets of this column (product, category…) per order',
  },
  {
    flags: '--basket',
    description: `count orders and baskets with the order and item columns detected (item: ${ITEM_ALIASES.join(', ')})`,
  },
  {
    flags: '--orders-scattered',
    description:
      "an order's lines may be anywhere in the file: send every order's items to the coordinator (exact for any layout, slower)",
  },
  {
    flags: '--basket-items <n>',
    description: `count pairs among the n most frequent items (default ${DEFAULT_BASKET_ITEMS}, at most ${MAX_BASKET_ITEMS})`,
  },
];

export interface RawColumnFlags {
  price?: string;
  quantity?: string;
  revenue?: string;
  date?: string;
  dateFormat?: string;
  dimension?: string[];
  mart?: string[];
  delimiter?: string;
  maxKeys?: string;
  maxFieldBytes?: string;
  customer?: string;
  category?: string;
  /** commander's negation of --no-customers: false when given. */
  customers?: boolean;
  order?: string;
  item?: string;
  basket?: boolean;
  basketItems?: string;
  ordersScattered?: boolean;
}

export function parseColumnOptions(raw: RawColumnFlags): ColumnOptions {
  const nonEmpty = (option: string, v: string | undefined) => {
    if (v !== undefined && v.trim() === '') throw new UsageError(`${option} needs a column name`);
    return v;
  };
  return Object.freeze({
    price: nonEmpty('--price', raw.price),
    quantity: nonEmpty('--quantity', raw.quantity),
    revenue: nonEmpty('--revenue', raw.revenue),
    date: nonEmpty('--date', raw.date),
    dateFormat: parseDateFormat(raw.dateFormat),
    dimensions: raw.dimension?.map((d) => nonEmpty('--dimension', d) as string),
    marts: raw.mart?.map((d) => nonEmpty('--mart', d) as string),
    delimiter: parseDelimiter(raw.delimiter),
    maxKeys:
      raw.maxKeys === undefined ? DEFAULT_MAX_KEYS : parseIntOption('--max-keys', raw.maxKeys, 1, 10_000_000),
    maxFieldBytes: parseMaxFieldBytes(raw.maxFieldBytes),
    customer: nonEmpty('--customer', raw.customer),
    category: nonEmpty('--category', raw.category),
    noCustomers: customersOff(raw),
    order: nonEmpty('--order', raw.order),
    item: nonEmpty('--item', raw.item),
    basket: raw.basket === true ? true : undefined,
    basketItems: parseBasketItems(raw),
    ordersScattered: parseScattered(raw),
  });
}

function parseScattered(raw: RawColumnFlags): true | undefined {
  if (raw.ordersScattered !== true) return undefined;
  if (raw.item === undefined && raw.basket !== true)
    throw new UsageError('--orders-scattered needs --item <col> or --basket');
  return true;
}

function parseBasketItems(raw: RawColumnFlags): number | undefined {
  if (raw.basketItems === undefined) return undefined;
  if (raw.item === undefined && raw.basket !== true)
    throw new UsageError('--basket-items needs --item <col> or --basket');
  return parseIntOption('--basket-items', raw.basketItems, 2, MAX_BASKET_ITEMS);
}

function customersOff(raw: RawColumnFlags): boolean {
  const off = raw.customers === false;
  if (off && raw.customer !== undefined) throw new UsageError('--customer and --no-customers contradict');
  return off;
}

function parseMaxFieldBytes(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_FIELD_BYTES;
  const bytes = parseSize('--max-field-bytes', value);
  if (bytes > MAX_MAX_FIELD_BYTES)
    throw new UsageError(`--max-field-bytes must be at most 16MiB, got "${value}"`);
  return bytes;
}

/** A `--join FILE:KEY` (or `FILE:FACTCOL=DIMCOL`): a dimension table joined to the fact rows by key. */
export interface JoinOption {
  /** Absolute path of the dimension CSV. */
  file: string;
  /** The fact file's key column. */
  factColumn: string;
  /** The dimension file's key column (the same name unless `FACTCOL=DIMCOL`). */
  keyColumn: string;
  /** The file's base name without extension (`stores.csv` → `stores`). */
  name: string;
}

export interface RawJoinFlags {
  join?: string[];
  maxJoinBytes?: string;
}

export const DEFAULT_MAX_JOIN_BYTES = 64 * 1024 * 1024;
const MAX_MAX_JOIN_BYTES = 512 * 1024 * 1024;

/** The `--join` options of `run` and `coordinator`, declared once: cli.ts adds them from this table. */
export const JOIN_OPTION_TABLE: readonly OptionRow[] = [
  {
    flags: '--join <file:key>',
    description:
      'join a dimension CSV by key (FILE:KEY, or FILE:FACTCOL=DIMCOL); its columns become FACTCOL.ATTR for --dimension/--mart (repeatable)',
    repeatable: true,
  },
  { flags: '--max-join-bytes <size>', description: 'largest dimension file --join loads (default: 64MiB)' },
];

export function parseJoinOption(value: string): JoinOption {
  const cut = value.lastIndexOf(':');
  const file = cut > 0 ? value.slice(0, cut) : '';
  const key = cut > 0 ? value.slice(cut + 1) : '';
  const [factColumn, keyColumn = factColumn, extra] = key.split('=');
  if (file.trim() === '' || factColumn.trim() === '' || keyColumn.trim() === '' || extra !== undefined)
    throw new UsageError(
      `--join must be FILE:KEY or FILE:FACTCOL=DIMCOL, like stores.csv:store_id, got "${value}"`,
    );
  const name = path.basename(file).replace(/\.[^.]*$/, '');
  if (name === '') throw new UsageError(`--join ${value}: the file name gives the join no name`);
  return Object.freeze({
    file: path.resolve(file),
    factColumn: factColumn.trim(),
    keyColumn: keyColumn.trim(),
    name,
  });
}

export function parseJoins(raw: RawJoinFlags): { joins: JoinOption[]; maxJoinBytes: number } {
  const joins = (raw.join ?? []).map(parseJoinOption);
  for (let i = 0; i < joins.length; i++) {
    for (let k = 0; k < i; k++) {
      if (joins[k].name === joins[i].name)
        throw new UsageError(`two --join tables are named "${joins[i].name}"; rename one of the files`);
      if (joins[k].factColumn === joins[i].factColumn)
        throw new UsageError(
          `two --join tables use the fact column "${joins[i].factColumn}"; join one table per key column`,
        );
    }
  }
  const maxJoinBytes =
    raw.maxJoinBytes === undefined ? DEFAULT_MAX_JOIN_BYTES : parseSize('--max-join-bytes', raw.maxJoinBytes);
  if (maxJoinBytes > MAX_MAX_JOIN_BYTES)
    throw new UsageError(`--max-join-bytes must be at most 512MiB, got "${raw.maxJoinBytes}"`);
  return { joins, maxJoinBytes };
}
