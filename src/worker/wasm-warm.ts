/**
 * Warming the WASM parse path while a worker connects: a small synthetic chunk, parsed a few
 * times, so compilation and V8's tier-up happen before real chunks arrive instead of during the
 * first ones. The module's code is the same for every layout; a reference-like spec exercises it.
 */
import type { ScanSpec } from '../scan-spec.js';
import { parseChunkWasm, wasmIneligible } from './wasm-parse.js';

const ROWS = 2_000;
const ROUNDS = 4;

/** A chunk of `rows` good rows for `spec`: numbers at its scale, dates in its format, a few keys. */
export function syntheticChunk(spec: ScanSpec, rows = ROWS): Uint8Array {
  const delim = String.fromCharCode(spec.delimiter);
  const point = spec.decimalComma ? ',' : '.';
  const dims = new Set(spec.dimensions.map((d) => d.index));
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    const fields: string[] = [];
    const day = String((r % 28) + 1).padStart(2, '0');
    const month = String((r % 12) + 1).padStart(2, '0');
    for (let f = 0; f < spec.fieldCount; f++) {
      if (f === spec.price || f === spec.revenue) {
        const cents = String(r % 10 ** Math.max(spec.scale, 1)).padStart(spec.scale, '0');
        fields.push(spec.scale > 0 ? `${(r * 7) % 1000}${point}${cents}` : String((r * 7) % 1000));
      } else if (f === spec.quantity) fields.push(String((r % 9) + 1));
      else if (f === spec.date)
        fields.push(
          spec.dateFormat === 'ymd'
            ? `2024-${month}-${day}`
            : spec.dateFormat === 'mdy'
              ? `${month}/${day}/2024`
              : `${day}/${month}/2024`,
        );
      else if (dims.has(f)) fields.push(`key${r % 13}`);
      else fields.push('x');
    }
    lines.push(fields.join(delim));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Date, three keys, quantity, price: the reference layout's parsed columns. */
export const WARM_SPEC: ScanSpec = {
  delimiter: 0x2c,
  fieldCount: 7,
  price: 5,
  quantity: 4,
  revenue: -1,
  date: 0,
  dateFormat: 'mdy',
  decimalComma: false,
  scale: 2,
  dimensions: [1, 2, 3].map((index) => ({ name: `k${index}`, index })),
  maxKeys: 1000,
  names: ['d', 'k1', 'k2', 'k3', 'q', 'p', 'x'],
};

/** Parses a synthetic chunk a few times; returns the milliseconds of each round (none when WASM cannot take the spec). */
export function warmWasm(spec: ScanSpec = WARM_SPEC): number[] {
  if (wasmIneligible(spec) !== null) return [];
  const chunk = syntheticChunk(spec);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    parseChunkWasm(chunk, spec);
    times.push(performance.now() - t0);
  }
  return times;
}
