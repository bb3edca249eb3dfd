/**
 * Options of the commands that read a finished run's database (`report`, `basket`, `eda`, `top`,
 * `segment`, `serve` and `run --ui`), validated and frozen like the rest of config.ts, whose
 * helpers they use.
 */
import { DEFAULT_DB, DEFAULT_HOST, isLoopbackHost, tokenFrom } from './config.js';
import { parseIntOption, parsePort } from './config-values.js';
import { UsageError } from './errors.js';

/** `basket` flags as commander hands them over. */
export interface RawBasketFlags {
  db: string;
  run?: string;
  minSupport?: string;
  minConfidence?: string;
  minLift?: string;
  by?: string;
  limit?: string;
  json?: boolean;
  csv?: boolean;
}

export interface BasketOptions {
  db: string;
  runId: number | null;
  minSupport: number;
  minConfidence: number;
  minLift: number;
  by: 'lift' | 'confidence' | 'support';
  limit: number;
  format: 'table' | 'json' | 'csv';
}

/** The `basket` options, declared once: cli.ts adds them from this table. */
export const BASKET_OPTION_TABLE: readonly { flags: string; description: string; default?: string }[] = [
  { flags: '--db <path>', description: 'SQLite database', default: DEFAULT_DB },
  { flags: '--run <id>', description: 'run id (default: the latest done run with baskets)' },
  { flags: '--min-support <f>', description: 'least share of orders holding both items', default: '0' },
  { flags: '--min-confidence <f>', description: 'least P(consequent | antecedent)', default: '0' },
  { flags: '--min-lift <f>', description: 'least lift', default: '0' },
  { flags: '--by <what>', description: 'order rules by lift, confidence or support', default: 'lift' },
  { flags: '--limit <n>', description: 'most rules shown', default: '20' },
  { flags: '--json', description: 'print {runId, orders, items, rules} as JSON' },
  { flags: '--csv', description: 'print the rules as CSV' },
];

function parseRatio(option: string, value: string | undefined, max: number): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > max)
    throw new UsageError(`${option} must be a number from 0 to ${max}, got "${value}"`);
  return n;
}

export function parseBasketOptions(raw: RawBasketFlags): BasketOptions {
  const by = raw.by ?? 'lift';
  if (by !== 'lift' && by !== 'confidence' && by !== 'support')
    throw new UsageError(`--by must be lift, confidence or support, got "${by}"`);
  if (raw.json === true && raw.csv === true) throw new UsageError('--json and --csv exclude each other');
  return Object.freeze({
    db: raw.db,
    runId: raw.run === undefined ? null : parseIntOption('--run', raw.run, 1, Number.MAX_SAFE_INTEGER),
    minSupport: parseRatio('--min-support', raw.minSupport, 1),
    minConfidence: parseRatio('--min-confidence', raw.minConfidence, 1),
    minLift: parseRatio('--min-lift', raw.minLift, Number.MAX_VALUE),
    by,
    limit: raw.limit === undefined ? 20 : parseIntOption('--limit', raw.limit, 1, 1_000_000),
    format: raw.json === true ? 'json' : raw.csv === true ? 'csv' : 'table',
  });
}

export const DEFAULT_SERVE_PORT = 8080;

/** `serve` (and `run --ui`): the dashboard over one database. */
export interface ServeOptions {
  db: string;
  host: string;
  port: number;
  /** Required off loopback; when set, every page and API call needs it (login form or bearer). */
  token: string | null;
  quiet: boolean;
}

export interface RawServeFlags {
  db?: string;
  host?: string;
  port?: string;
  token?: string;
  quiet?: boolean;
}

/** The `serve` options, declared once: cli.ts adds them from this table. */
export const SERVE_OPTION_TABLE: readonly { flags: string; description: string; default?: string }[] = [
  { flags: '--db <path>', description: 'SQLite database to show (opened read-only)', default: DEFAULT_DB },
  {
    flags: '--host <host>',
    description: 'address to listen on (non-loopback needs --token)',
    default: DEFAULT_HOST,
  },
  {
    flags: '--port <port>',
    description: 'port to listen on (0 = any free port)',
    default: String(DEFAULT_SERVE_PORT),
  },
  {
    flags: '--token <token>',
    description: 'secret the browser or API client must present (default: $SALESGRID_TOKEN)',
  },
  { flags: '--quiet', description: 'print only the address' },
];

export function parseServeOptions(raw: RawServeFlags): ServeOptions {
  const host = raw.host ?? DEFAULT_HOST;
  const token = tokenFrom(raw.token);
  if (!isLoopbackHost(host) && token === null) {
    throw new UsageError(
      `serving on ${host} without a token would show every run to anyone who reaches the port; set --token or SALESGRID_TOKEN`,
    );
  }
  if (host.trim() === '') throw new UsageError('--host needs an address');
  return Object.freeze({
    db: raw.db ?? DEFAULT_DB,
    host,
    port: raw.port === undefined ? DEFAULT_SERVE_PORT : parsePort('--port', raw.port),
    token,
    quiet: raw.quiet === true,
  });
}

/** `run --ui [--ui-port]`: the dashboard on loopback for the run in this process; `--token` guards it too. */
export function parseUiOptions(
  db: string,
  ui: boolean | undefined,
  uiPort: string | undefined,
  tokenFlag: string | undefined,
): ServeOptions | null {
  if (ui !== true) {
    if (uiPort !== undefined) throw new UsageError('--ui-port needs --ui');
    return null;
  }
  return parseServeOptions({ db, host: DEFAULT_HOST, port: uiPort, token: tokenFlag, quiet: false });
}

/** `segment`: segmentation of one run's customers. */
export interface SegmentCommandOptions {
  db: string;
  /** Run id; null: the latest done run. */
  run: number | null;
  /** Clusters; null: chosen by the silhouette over k = 2..10. */
  k: number | null;
  seed: number;
  format: 'human' | 'json' | 'csv';
}

export interface RawSegmentFlags {
  db?: string;
  run?: string;
  k?: string;
  seed?: string;
  json?: boolean;
  csv?: boolean;
}

/** The `segment` options, declared once: cli.ts adds them from this table. */
export const SEGMENT_OPTION_TABLE: readonly { flags: string; description: string; default?: string }[] = [
  { flags: '--db <path>', description: 'SQLite database', default: DEFAULT_DB },
  { flags: '--run <id>', description: 'run id (default: the latest finished run)' },
  { flags: '--k <n>', description: 'clusters (default: chosen by the silhouette over k = 2..10)' },
  {
    flags: '--seed <n>',
    description: 'seed of the sample and of k-means++ (same seed, same segments)',
    default: '42',
  },
  { flags: '--json', description: 'the segmentation as JSON (revenue as exact strings)' },
  {
    flags: '--csv',
    description: 'customer → cluster, RFM segment and lifetime-value decile as CSV, for a CRM',
  },
];

export function parseSegmentOptions(raw: RawSegmentFlags): SegmentCommandOptions {
  if (raw.json === true && raw.csv === true) throw new UsageError('--json and --csv contradict: choose one');
  return Object.freeze({
    db: raw.db ?? DEFAULT_DB,
    run: raw.run === undefined ? null : parseIntOption('--run', raw.run, 1, Number.MAX_SAFE_INTEGER),
    k: raw.k === undefined ? null : parseIntOption('--k', raw.k, 2, 50),
    seed: raw.seed === undefined ? 42 : parseIntOption('--seed', raw.seed, 0, 2 ** 31 - 1),
    format: raw.json === true ? 'json' : raw.csv === true ? 'csv' : 'human',
  });
}

function parseRunId(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseIntOption('--run', value, 1, Number.MAX_SAFE_INTEGER);
}

/** `report` flags as commander hands them over. */
export interface RawReportFlags {
  db: string;
  run?: string;
  json?: boolean;
}

/** `report`: one run's totals, months, workers and rejects. */
export interface ReportCommandOptions {
  db: string;
  /** Run id; undefined: the latest. */
  runId: number | undefined;
  json: boolean;
}

export function parseReportOptions(raw: RawReportFlags): ReportCommandOptions {
  return Object.freeze({ db: raw.db, runId: parseRunId(raw.run), json: raw.json === true });
}

/** `eda` flags as commander hands them over (`--format` already one of its choices). */
export interface RawEdaFlags {
  db: string;
  run?: string;
  out: string;
  format: 'png' | 'svg';
  top: string;
  quiet?: boolean;
}

/** `eda`: a finished run's charts. */
export interface EdaCommandOptions {
  db: string;
  /** Run id; undefined: the latest finished run. */
  runId: number | undefined;
  out: string;
  svg: boolean;
  topN: number;
  quiet: boolean;
}

export function parseEdaOptions(raw: RawEdaFlags): EdaCommandOptions {
  const runId = parseRunId(raw.run);
  return Object.freeze({
    db: raw.db,
    runId,
    out: raw.out,
    svg: raw.format === 'svg',
    topN: parseIntOption('--top', raw.top, 1, 100),
    quiet: raw.quiet === true,
  });
}

/** `top` flags as commander hands them over (`--per` and `--by` already one of their choices). */
export interface RawTopFlags {
  per: 'month' | 'year' | 'all';
  by: 'revenue' | 'units' | 'rows';
  limit: string;
  db: string;
  run?: string;
  json?: boolean;
  csv?: boolean;
  label?: string;
}

/** `top`: the best keys of one mart. */
export interface TopCommandOptions {
  column: string;
  per: 'month' | 'year' | 'all';
  by: 'revenue' | 'units' | 'rows';
  limit: number;
  label: string | undefined;
  db: string;
  /** Run id; undefined: the latest. */
  runId: number | undefined;
  format: 'table' | 'json' | 'csv';
}

export function parseTopOptions(column: string, raw: RawTopFlags): TopCommandOptions {
  const limit = parseIntOption('--limit', raw.limit, 1, 1_000_000);
  const runId = parseRunId(raw.run);
  if (raw.json && raw.csv) throw new UsageError('choose one of --json and --csv');
  return Object.freeze({
    column,
    per: raw.per,
    by: raw.by,
    limit,
    label: raw.label,
    db: raw.db,
    runId,
    format: raw.json ? 'json' : raw.csv ? 'csv' : 'table',
  });
}
