/**
 * Parsers of single option values (sizes, counts, seconds, ports, date formats, delimiters), each
 * throwing a UsageError that names the option. The option tables and their validation are in
 * config.ts, config-columns.ts and config-views.ts.
 */
import { UsageError } from './errors.js';
import type { DateFormat } from './scan-spec.js';

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** "4MiB", "512KiB", "1048576" → bytes. */
export function parseSize(option: string, value: string): number {
  const m = SIZE_RE.exec(value.trim());
  if (!m) throw new UsageError(`${option} must be a size like 4MiB, 512KiB or 1048576, got "${value}"`);
  const bytes = Math.round(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`${option} must be at least 1 byte`);
  return bytes;
}

export function parseIntOption(option: string, value: string | number, min: number, max: number): number {
  const n = typeof value === 'number' ? value : /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${option} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** Seconds (may be fractional) → milliseconds. */
export function parseSeconds(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${option} must be a positive number of seconds, got "${value}"`);
  }
  return Math.round(n * 1000);
}

/** Seconds, zero allowed → milliseconds. */
export function parseSecondsOrZero(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${option} must be 0 or a positive number of seconds, got "${value}"`);
  }
  return Math.round(n * 1000);
}

export function parsePort(option: string, value: string): number {
  return parseIntOption(option, value, 0, 65535);
}

export function parseDateFormat(value: string | undefined): DateFormat | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'mdy' || v === 'dmy' || v === 'ymd') return v;
  throw new UsageError(`--date-format must be mdy, dmy or ymd, got "${value}"`);
}

const DELIMITERS: Record<string, string> = {
  ',': ',',
  ';': ';',
  '|': '|',
  tab: '\t',
  '\\t': '\t',
  '\t': '\t',
};

export function parseDelimiter(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = DELIMITERS[value.toLowerCase()];
  if (d === undefined) throw new UsageError(`--delimiter must be one of , ; | tab, got "${value}"`);
  return d;
}
