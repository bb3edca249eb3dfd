/**
 * Exact decimal helpers over scaled bigints: a money value v at scale s means v / 10^s.
 */

const POW10: bigint[] = [];
for (let i = 0, p = 1n; i <= 40; i++, p *= 10n) POW10.push(p);

export function pow10(n: number): bigint {
  return POW10[n] ?? 10n ** BigInt(n);
}

/** Re-expresses v from scale `from` to the larger scale `to`, exactly. */
export function rescale(v: bigint, from: number, to: number): bigint {
  if (to < from) throw new RangeError(`cannot lower scale ${from} to ${to} exactly`);
  return to === from ? v : v * pow10(to - from);
}

/** "1234.5600" style string of v at scale s (every decimal kept). */
export function formatScaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString();
  if (scale === 0) return (neg ? '-' : '') + digits;
  const padded = digits.padStart(scale + 1, '0');
  const cut = padded.length - scale;
  return `${neg ? '-' : ''}${padded.slice(0, cut)}.${padded.slice(cut)}`;
}

/** num/den (den > 0) rounded half away from zero to `places` decimals, as a string. */
export function divRound(num: bigint, den: bigint, places: number): string {
  if (den <= 0n) throw new RangeError('divisor must be positive');
  const neg = num < 0n;
  const n = (neg ? -num : num) * pow10(places);
  let q = n / den;
  if ((n % den) * 2n >= den) q += 1n;
  return formatScaled(neg ? -q : q, places);
}

/** Parses a plain decimal string ("-12.3400") into [value, scale]; throws on anything else. */
export function parseDecimal(text: string): [bigint, number] {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`);
  const frac = m[3] ?? '';
  const v = BigInt(m[2] + frac);
  return [m[1] === '-' ? -v : v, frac.length];
}

/** Groups thousands for display: "1234567.89" → "1,234,567.89". */
export function groupThousands(decimal: string): string {
  const neg = decimal.startsWith('-');
  const body = neg ? decimal.slice(1) : decimal;
  const [int, frac] = body.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (neg ? '-' : '') + grouped + (frac === undefined ? '' : `.${frac}`);
}
