/**
 * Warming the WASM parse path while a worker connects: a small synthetic chunk, parsed a few
 * times, so compilation and V8's tier-up happen before real chunks arrive instead of during the
 * first ones. The module's code is the same for every layout; a reference-like spec exercises it.
 */
import type { ScanSpec } from '../scan-spec.js';
import { chooseParser, parseChunkWasm, wasmIneligible } from './wasm-parse.js';

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
      else if (f === spec.order) fields.push(String(1000 + Math.floor(r / 5)));
      else if (dims.has(f)) fields.push(`key${r % 13}`);
      else if (f === spec.item) fields.push(`item${(r * 7) % 17}`);
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
export function warmWasm(spec: ScanSpec = WARM_SPEC, rounds = ROUNDS, rows = ROWS): number[] {
  if (wasmIneligible(spec) !== null) return [];
  const chunk = syntheticChunk(spec, rows);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    parseChunkWasm(chunk, spec);
    times.push(performance.now() - t0);
  }
  return times;
}

let basketsWarm = false;

/**
 * At the welcome of a basket run (`--order`, `--item`) on the WASM path, once per process: the
 * run's own layout parsed a few times. Feeding and counting the baskets in JS is most of such a
 * chunk's cost, and cold it made a worker's first ten chunks cost ~0.3 s of CPU more (measured on
 * 4 MiB retail chunks); warming costs ~40-70 ms. Plain runs do not pay it.
 */
export function warmBaskets(spec: ScanSpec): void {
  if (basketsWarm || spec.order === undefined || spec.item === undefined) return;
  if (spec.joins !== undefined || chooseParser(spec, 'auto') !== 'wasm') return;
  basketsWarm = true;
  try {
    // Many small rounds: V8 gives a function its feedback only after several calls, and the
    // collector's per-chunk functions are called once a chunk (without it, optimized code was
    // thrown away for lack of feedback in each of the first ~20 chunks).
    warmWasm(spec, 12, 500);
  } catch {
    // Best effort: a synthetic chunk past a small --max-keys only leaves the path cold.
  }
}
