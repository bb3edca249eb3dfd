/**
 * Defaults and option validation, in one place. Each command's options are parsed here from the
 * raw CLI strings, checked with a message that names the bad option, and frozen.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  parseDateFormat,
  parseDelimiter,
  parseIntOption,
  parsePort,
  parseSeconds,
  parseSecondsOrZero,
  parseSize,
} from './config-values.js';
import { UsageError } from './errors.js';
import { DEFAULT_MAX_FRAME } from './protocol/frame-codec.js';
import type { CertFiles } from './protocol/tls-security.js';
import { DEFAULT_MAX_FIELD_BYTES, MAX_MAX_FIELD_BYTES } from './quote-limit.js';
import type { DateFormat } from './scan-spec.js';

export const DEFAULT_PORT = 7878;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DB = 'results/results.db';
export const DEFAULT_DATA = 'data/sales.csv';
export const DEFAULT_RETAIL_DATA = 'data/retail.csv';
/** `generate --layout retail` defaults and bounds (a customer's favourite category is a byte). */
export const RETAIL_DEFAULTS = Object.freeze({ rows: 1_000_000, customers: 20_000, products: 500 });
export const RETAIL_LIMITS = Object.freeze({
  customers: 10_000_000,
  products: 100_000,
  categories: 255,
  linesPerOrder: 1000,
});

/** `generate` flags as commander hands them over. */
export interface RawGenerateFlags {
  layout: string;
  rows?: string;
  seed: string;
  out?: string;
  quoteText?: boolean;
  customers?: string;
  products?: string;
  categories?: string;
  linesPerOrder?: string;
  withDimensions?: boolean;
  quiet?: boolean;
}
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
export const DEFAULT_SLOTS = 2;
export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_MAX_KEYS = 1_000_000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const MAX_CHUNK_SIZE = 48 * 1024 * 1024;
export const DEFAULT_MAX_SLOTS = 4;
export const DEFAULT_LINGER_MS = 3_000;
/** A coordinator drops a worker after three missed pings (it pings every third of this, at most every 5 s). */
export const DEFAULT_PEER_TIMEOUT_MS = 15_000;
/** A worker drops a coordinator it has not heard from for this long; coordinators ping at least every 5 s. */
export const DEFAULT_WORKER_PEER_TIMEOUT_MS = 20_000;

/** Lease timeout: generous next to a parse time of ~20 ms per MiB, and growing with the chunk. */
export function defaultLeaseTimeoutMs(chunkSize: number): number {
  return 20_000 + Math.ceil(chunkSize / (1024 * 1024)) * 2_000;
}

/** "host:port" or "port" → [host, port]. IPv6 hosts go in brackets: "[::1]:7878". */
export function parseEndpoint(option: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (m) return { host: m[1] ?? m[2], port: parsePort(option, m[3]) };
  if (/^\d+$/.test(value.trim())) return { host: DEFAULT_HOST, port: parsePort(option, value) };
  throw new UsageError(`${option} must be host:port, like 127.0.0.1:${DEFAULT_PORT}, got "${value}"`);
}

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

/** The per-customer column options, declared once: cli.ts adds them to `run` and `coordinator`. */
export const CUSTOMER_OPTION_TABLE: readonly { flags: string; description: string }[] = [
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
];

/** Order id columns detected, in this order (exact header first, then any case). */
export const ORDER_ALIASES = ['order_id', 'Order ID', 'InvoiceNo'];
/** Basket item columns detected with `--basket`, in this order: the finest grain first. */
export const ITEM_ALIASES = ['product', 'Product ID', 'StockCode', 'category', 'Sub-Category'];
export const DEFAULT_BASKET_ITEMS = 1000;
/** The pair matrix of the end of a run is K² 32-bit counts: 2,000 items take 16 MB. */
export const MAX_BASKET_ITEMS = 2000;

/** The order and basket flags of `run` and `coordinator`, declared once: cli.ts adds them from this table. */
export const ORDER_OPTION_TABLE: readonly { flags: string; description: string }[] = [
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

export interface CoordinatorOptions {
  file: string;
  host: string;
  port: number;
  db: string;
  token: string | null;
  chunkSize: number;
  maxAttempts: number;
  leaseTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** Give up when no worker has connected for this long while work remains; null waits forever. */
  waitTimeoutMs: number | null;
  resume: boolean;
  /** Whether --chunk-size was given (on --resume it must then match the stored run). */
  chunkSizeGiven: boolean;
  /** Most chunks in flight to one worker, whatever it asks for. */
  maxSlots: number;
  /** How long the coordinator stays after the end, telling reconnecting workers the run is over. */
  lingerMs: number;
  /** A worker not heard from this long (pings unanswered) is dropped; pings go out every third of it. */
  peerTimeoutMs: number;
  columns: ColumnOptions;
  /** Dimension tables joined by key (`--join`), and the cap on each file's size. */
  joins: JoinOption[];
  maxJoinBytes: number;
  /** Send byte ranges instead of bytes (workers must read the same file). */
  transport: 'bytes' | 'range';
  /** Certificate TLS instead of TLS-PSK (`--tls-cert`, `--tls-key`, optional `--tls-ca` for client certs). */
  tls: CertFiles | null;
  quiet: boolean;
  json: boolean;
}

/** Which parser a worker uses: WASM SIMD where the spec allows (auto), or one forced, for debugging. */
export type ParseMode = 'auto' | 'wasm' | 'js';
export const PARSE_MODES: readonly ParseMode[] = ['auto', 'wasm', 'js'];

/** `--parse`, else $SALESGRID_PARSE, else auto. */
export function parseParseMode(flag: string | undefined, env = process.env.SALESGRID_PARSE): ParseMode {
  const [option, value] = flag !== undefined ? ['--parse', flag] : ['SALESGRID_PARSE', env];
  if (value === undefined || value === '') return 'auto';
  if (!(PARSE_MODES as readonly string[]).includes(value)) {
    throw new UsageError(`${option} must be one of ${PARSE_MODES.join(', ')}, got "${value}"`);
  }
  return value as ParseMode;
}

export interface WorkerOptions {
  host: string;
  port: number;
  id: string;
  token: string | null;
  slots: number;
  /** Keep reconnecting this long when the coordinator is not reachable (not with `stay`). */
  retryForMs: number;
  /** After a run, wait without limit for the next one (capped backoff) instead of exiting. */
  stay: boolean;
  /** Drop and reconnect a coordinator that has sent nothing for this long. */
  peerTimeoutMs: number;
  /** Largest result frame body sent: the coordinator's frame limit. */
  maxFrame: number;
  quiet: boolean;
  /** The one file (absolute) or URL this worker reads for byte-range tasks, or null: ranges are refused. */
  acceptRanges: string | null;
  /** Certificate TLS instead of TLS-PSK (`--tls-ca`, optional `--tls-cert`/`--tls-key` client cert). */
  tls: CertFiles | null;
  /** Parser: `auto` (WASM SIMD where the run allows), or `wasm`/`js` forced (`--parse`, $SALESGRID_PARSE). */
  parse: ParseMode;
}

export interface RawTlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

function readPem(option: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(
      `${option}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!bytes.includes('-----BEGIN ')) throw new UsageError(`${option}: ${file} is not a PEM file`);
  return bytes;
}

/**
 * Certificate options. The coordinator needs --tls-cert and --tls-key (and --tls-ca to require
 * client certificates); a worker needs --tls-ca (and --tls-cert/--tls-key to show one). The token
 * still admits workers, so certificates need one too.
 */
export function parseTlsOptions(
  raw: RawTlsFlags,
  side: 'coordinator' | 'worker',
  token: string | null,
): CertFiles | null {
  if (raw.tlsCert === undefined && raw.tlsKey === undefined && raw.tlsCa === undefined) return null;
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (side === 'coordinator' && raw.tlsCert === undefined)
    throw new UsageError(
      'the coordinator needs --tls-cert and --tls-key (--tls-ca alone would prove nothing)',
    );
  if (side === 'worker' && raw.tlsCa === undefined)
    throw new UsageError("a worker needs --tls-ca to check the coordinator's certificate");
  if (token === null)
    throw new UsageError(
      'certificates need a token as well (--token or SALESGRID_TOKEN): the token admits workers',
    );
  return Object.freeze({
    cert: raw.tlsCert === undefined ? null : readPem('--tls-cert', raw.tlsCert),
    key: raw.tlsKey === undefined ? null : readPem('--tls-key', raw.tlsKey),
    ca: raw.tlsCa === undefined ? null : readPem('--tls-ca', raw.tlsCa),
  });
}

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

export function tokenFrom(flag: string | undefined): string | null {
  const t = flag ?? process.env.SALESGRID_TOKEN;
  return t === undefined || t === '' ? null : t;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '[::1]';
}

/**
 * A CSV given as a path (made absolute) or an http(s):// URL. Plain http:// is allowed on
 * loopback only: elsewhere anyone on the path could change the data.
 */
export function parseSourceName(option: string, value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return path.resolve(value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${option} is not a valid URL: "${value}"`);
  }
  if (url.protocol === 'https:') return value;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return value;
    throw new UsageError(`${option}: http:// is allowed on loopback only; use https:// for ${url.host}`);
  }
  throw new UsageError(`${option} must be a file path, https:// or (loopback) http:// URL, got "${value}"`);
}

export interface RawCoordinatorFlags extends RawColumnFlags, RawTlsFlags {
  host?: string;
  port?: string;
  db?: string;
  token?: string;
  chunkSize?: string;
  maxAttempts?: string;
  leaseTimeout?: string;
  handshakeTimeout?: string;
  waitTimeout?: string;
  resume?: boolean;
  maxSlots?: string;
  linger?: string;
  peerTimeout?: string;
  transport?: string;
  quiet?: boolean;
  json?: boolean;
  join?: string[];
  maxJoinBytes?: string;
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

export const DEFAULT_MAX_JOIN_BYTES = 64 * 1024 * 1024;
const MAX_MAX_JOIN_BYTES = 512 * 1024 * 1024;

/** The `--join` options of `run` and `coordinator`, declared once: cli.ts adds them from this table. */
export const JOIN_OPTION_TABLE: readonly { flags: string; description: string; repeatable?: true }[] = [
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

function parseJoins(raw: RawCoordinatorFlags): { joins: JoinOption[]; maxJoinBytes: number } {
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

export function parseCoordinatorOptions(file: string, raw: RawCoordinatorFlags): CoordinatorOptions {
  const host = raw.host ?? DEFAULT_HOST;
  const token = tokenFrom(raw.token);
  if (!isLoopbackHost(host) && token === null) {
    throw new UsageError(
      `listening on ${host} without a token would let anyone who reaches the port take part; set --token or SALESGRID_TOKEN`,
    );
  }
  const chunkSize =
    raw.chunkSize === undefined ? DEFAULT_CHUNK_SIZE : parseSize('--chunk-size', raw.chunkSize);
  if (chunkSize > MAX_CHUNK_SIZE)
    throw new UsageError(`--chunk-size must be at most ${MAX_CHUNK_SIZE / 1024 / 1024}MiB`);
  const transport = raw.transport ?? 'bytes';
  if (transport !== 'bytes' && transport !== 'range') {
    throw new UsageError(`--transport must be bytes or range, got "${transport}"`);
  }
  return Object.freeze({
    file: parseSourceName('<csv>', file),
    host,
    port: raw.port === undefined ? DEFAULT_PORT : parsePort('--port', raw.port),
    db: raw.db ?? DEFAULT_DB,
    token,
    chunkSize,
    maxAttempts:
      raw.maxAttempts === undefined
        ? DEFAULT_MAX_ATTEMPTS
        : parseIntOption('--max-attempts', raw.maxAttempts, 1, 100),
    leaseTimeoutMs:
      raw.leaseTimeout === undefined
        ? defaultLeaseTimeoutMs(chunkSize)
        : parseSeconds('--lease-timeout', raw.leaseTimeout),
    handshakeTimeoutMs:
      raw.handshakeTimeout === undefined
        ? DEFAULT_HANDSHAKE_TIMEOUT_MS
        : parseSeconds('--handshake-timeout', raw.handshakeTimeout),
    waitTimeoutMs: raw.waitTimeout === undefined ? null : parseSeconds('--wait-timeout', raw.waitTimeout),
    resume: raw.resume === true,
    chunkSizeGiven: raw.chunkSize !== undefined,
    maxSlots:
      raw.maxSlots === undefined ? DEFAULT_MAX_SLOTS : parseIntOption('--max-slots', raw.maxSlots, 1, 64),
    lingerMs: raw.linger === undefined ? DEFAULT_LINGER_MS : parseSecondsOrZero('--linger', raw.linger),
    peerTimeoutMs:
      raw.peerTimeout === undefined
        ? DEFAULT_PEER_TIMEOUT_MS
        : parseSeconds('--peer-timeout', raw.peerTimeout),
    columns: parseColumnOptions(raw),
    ...parseJoins(raw),
    transport,
    tls: parseTlsOptions(raw, 'coordinator', token),
    quiet: raw.quiet === true,
    json: raw.json === true,
  });
}

export interface RawWorkerFlags extends RawTlsFlags {
  connect?: string;
  id?: string;
  token?: string;
  slots?: string;
  retryFor?: string;
  stay?: boolean;
  peerTimeout?: string;
  quiet?: boolean;
  acceptRanges?: string;
  parse?: string;
}

export function parseWorkerOptions(raw: RawWorkerFlags): WorkerOptions {
  const { host, port } = parseEndpoint('--connect', raw.connect ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`);
  if (port === 0) throw new UsageError('--connect needs a real port, not 0');
  const id = raw.id ?? `${os.hostname()}-${process.pid}`;
  if (!/^[\w.:@-]{1,200}$/.test(id)) {
    throw new UsageError(`--id may hold letters, digits and . _ : @ - only, got "${id}"`);
  }
  const token = tokenFrom(raw.token);
  return Object.freeze({
    host,
    port,
    id,
    token,
    slots: raw.slots === undefined ? DEFAULT_SLOTS : parseIntOption('--slots', raw.slots, 1, 64),
    retryForMs: raw.retryFor === undefined ? 120_000 : parseSeconds('--retry-for', raw.retryFor),
    stay: raw.stay === true,
    peerTimeoutMs:
      raw.peerTimeout === undefined
        ? DEFAULT_WORKER_PEER_TIMEOUT_MS
        : parseSeconds('--peer-timeout', raw.peerTimeout),
    maxFrame: DEFAULT_MAX_FRAME,
    quiet: raw.quiet === true,
    acceptRanges:
      raw.acceptRanges === undefined ? null : parseSourceName('--accept-ranges', raw.acceptRanges),
    tls: parseTlsOptions(raw, 'worker', token),
    parse: parseParseMode(raw.parse),
  });
}
