/**
 * Defaults and option validation of `coordinator`, `run` and `worker`: each command's options are
 * parsed here from the raw CLI strings, checked with a message that names the bad option, and
 * frozen. Their data-column options are in config-columns.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type ColumnOptions,
  type JoinOption,
  parseColumnOptions,
  parseJoins,
  type RawColumnFlags,
  type RawJoinFlags,
} from './config-columns.js';
import { parseIntOption, parsePort, parseSeconds, parseSecondsOrZero, parseSize } from './config-values.js';
import { UsageError } from './errors.js';
import { DEFAULT_MAX_FRAME } from './protocol/frame-codec.js';
import type { CertFiles } from './protocol/tls-security.js';

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

export interface RawCoordinatorFlags extends RawColumnFlags, RawJoinFlags, RawTlsFlags {
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

/** `run` flags as commander hands them over: the coordinator's, its workers' and the dashboard's. */
export interface RawRunFlags extends RawCoordinatorFlags {
  workers: string;
  slots?: string;
  generate?: boolean;
  ui?: boolean;
  uiPort?: string;
}

/** `run`: a coordinator in this process and its own worker processes (`--ui` is parseUiOptions'). */
export interface RunOptions {
  /** On loopback, any free port, no linger. */
  coordinator: CoordinatorOptions;
  workers: number;
  /** `--slots`; null: chosen once the header shows whether the run builds customers. */
  slots: number | null;
  /** `--generate`: write the default dataset first when the CSV is missing. */
  generate: boolean;
}

export function parseRunOptions(csv: string, raw: RawRunFlags): RunOptions {
  const workers = parseIntOption('--workers', raw.workers, 1, 256);
  const slots = raw.slots === undefined ? null : parseIntOption('--slots', raw.slots, 1, 64);
  // Its own children: no one reconnects after the end, and their slots are its own choice.
  const coordinator = parseCoordinatorOptions(csv, {
    ...raw,
    host: DEFAULT_HOST,
    port: '0',
    linger: '0',
  });
  return Object.freeze({ coordinator, workers, slots, generate: raw.generate === true });
}
