/**
 * Exact integers of any size as TEXT that SQLite's binary collation orders numerically, so `top`
 * can rank money past 2^63 in SQL. Layout: a sign byte ('n' < 'p'), the digit count in four
 * digits, then the digits; a negative value stores 9999 − count and each digit as 9 − digit, so a
 * larger magnitude sorts lower.
 */

const WIDTH = 4;
const MAX_DIGITS = 10 ** WIDTH - 1;

function complement(digits: string): string {
  let out = '';
  for (let i = 0; i < digits.length; i++) out += String(57 - digits.charCodeAt(i));
  return out;
}

/** `v` is a bigint, or a number that is a safe integer (its digits are exact). */
export function toSortKey(v: bigint | number): string {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`${v} is not a safe integer`);
  const neg = v < 0;
  const digits = String(neg ? -v : v);
  if (digits.length > MAX_DIGITS) throw new RangeError(`integer of ${digits.length} digits is too long`);
  if (!neg) return `p${String(digits.length).padStart(WIDTH, '0')}${digits}`;
  return `n${String(MAX_DIGITS - digits.length).padStart(WIDTH, '0')}${complement(digits)}`;
}

/** The slice of better-sqlite3 needed to register an aggregate. */
export interface AggregateHost {
  aggregate(
    name: string,
    options: {
      start: () => bigint;
      step: (total: bigint, key: string) => bigint;
      result: (total: bigint) => string;
      deterministic: boolean;
    },
  ): unknown;
}

/** Registers `sg_sum(key)`: the exact sum of sort keys, as a sort key. */
export function registerSortKeySum(db: AggregateHost): void {
  db.aggregate('sg_sum', {
    start: () => 0n,
    step: (total, key) => total + fromSortKey(key),
    result: (total) => toSortKey(total),
    deterministic: true,
  });
}

export function fromSortKey(key: string): bigint {
  const sign = key[0];
  const len = Number(key.slice(1, 1 + WIDTH));
  const body = key.slice(1 + WIDTH);
  if ((sign !== 'p' && sign !== 'n') || !/^\d+$/.test(body) || !Number.isInteger(len)) {
    throw new RangeError(`not a sort key: ${JSON.stringify(key)}`);
  }
  if (sign === 'p') {
    if (body.length !== len) throw new RangeError(`not a sort key: ${JSON.stringify(key)}`);
    return BigInt(body);
  }
  if (body.length !== MAX_DIGITS - len) throw new RangeError(`not a sort key: ${JSON.stringify(key)}`);
  return -BigInt(complement(body));
}
