/**
 * The worker's WASM SIMD parse path (asm/parse.ts, built into dist/wasm/parse.wasm) and the choice
 * between it and the JS path (parse-chunk.ts). WASM counts the plainly good rows; every row it
 * leaves (odd numbers, bad dates, wrong field counts, quoting it does not follow) goes through a
 * ChunkAggregator in order, with its own line number, and the WASM sums are added to that
 * aggregator, so the outcome has exactly the JS path's shape and values.
 */
import { readFileSync } from 'node:fs';
import type { KeyedRun } from '../aggregate/keyed-cells.js';
import type { ChunkOutcome } from '../aggregate/partial.js';
import type { ParseMode } from '../config.js';
import { DEFAULT_MAX_FIELD_BYTES } from '../quote-limit.js';
import type { ScanSpec } from '../scan-spec.js';
import { basketTable } from './basket-wasm.js';
import { CUSTOMER_RUNS } from './customer-cells.js';
import { customersIneligible, wasmCustomers } from './customer-wasm.js';
import type { JoinTable } from './join-table.js';
import { ChunkAggregator, confirmed, type Lookahead, parseChunk } from './parse-chunk.js';
import {
  basketRows,
  type Exports,
  R_FALLBACKS,
  R_LINES,
  R_REST,
  R_WORDS,
  readCells,
  readCounted,
  readKeys,
  takeBlocks,
} from './wasm-results.js';

/** Both src/worker and dist/worker sit two levels below the package root. */
const WASM_URL = new URL('../../dist/wasm/parse.wasm', import.meta.url);

/** The slice of the WebAssembly API used here (the project's lib settings do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

const STATUS_TOO_MANY_KEYS = 1;
/** A basket run's order ids did not ascend where WASM counted orders: again without counting. */
const STATUS_REDO = 2;
const MAX_DIMS = 16;
const MAX_FIELDS = 4096;
const FMT = { mdy: 1, dmy: 2, ymd: 3 } as const;

/**
 * Spec fields the WASM path implements. An allow-list: a field added to ScanSpec later (customers,
 * orders, joins…) sends every chunk of such a run to the JS path until WASM learns it.
 */
const WASM_SPEC_FIELDS: ReadonlySet<string> = new Set([
  'delimiter',
  'fieldCount',
  'price',
  'quantity',
  'revenue',
  'date',
  'dateFormat',
  'decimalComma',
  'scale',
  'dimensions',
  'marts',
  'maxKeys',
  'names',
  'maxFieldBytes',
  'order',
  'item',
  'basketItems',
  'shipAllOrders',
  'customer',
]);

/**
 * What the last WASM scan did itself: rows it counted, JS ranges it listed, whether JS took the
 * rest, how many marts it encoded as blocks (the others were read back into JS), and how many
 * orders it counted whole.
 */
export const lastWasmScan = {
  rows: 0,
  fallbacks: 0,
  rest: false,
  martsEncoded: 0,
  daysEncoded: false,
  ordersInWasm: 0,
};

/** Why the WASM path cannot take chunks of this spec, or null when it can. */
export function wasmIneligible(spec: ScanSpec): string | null {
  for (const [key, value] of Object.entries(spec)) {
    if (value !== undefined && !WASM_SPEC_FIELDS.has(key)) return `the run uses "${key}"`;
  }
  const customers = customersIneligible(spec);
  if (customers !== null) return customers;
  // A basket item column or a customer column that is not a dimension or mart takes a key table
  // of its own; the customers' cells take the cell table after the marts'.
  const tables = Math.max(
    spec.dimensions.length + (spec.marts?.length ?? 0),
    basketTable(spec) + 1,
    (wasmCustomers(spec)?.table ?? -1) + 1,
  );
  if (tables > MAX_DIMS || (spec.marts?.length ?? 0) + 1 > MAX_DIMS)
    return `more than ${MAX_DIMS} dimensions, marts, basket items and customers`;
  if (spec.fieldCount > MAX_FIELDS) return `more than ${MAX_FIELDS} fields`;
  const d = spec.delimiter;
  if (d === 0x0a || d === 0x0d || d === 0x22 || d >= 0x80 || d < 0) return 'its delimiter';
  return null;
}

let engine: Exports | null | undefined;
let unavailable: string | null = null;

/** The module's exports from its bytes, or why they cannot run here (no WASM, no SIMD, a bad build). */
export function instantiate(bytes: Uint8Array): Exports | string {
  try {
    if (!WebAssembly.validate(bytes)) return 'this runtime cannot run its WASM SIMD code';
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The instantiated module, or null (then `wasmUnavailable()` says why). Compiled once per process. */
export function wasmEngine(): Exports | null {
  if (engine !== undefined) return engine;
  let got: Exports | string;
  try {
    got = instantiate(readFileSync(WASM_URL));
  } catch (err) {
    got = `cannot read ${WASM_URL.pathname}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  engine = typeof got === 'string' ? null : got;
  if (typeof got === 'string') unavailable = `WASM parse path unavailable (${got}); using the JS parser`;
  return engine;
}

/** Why the WASM path is unavailable in this process, or null. */
export function wasmUnavailable(): string | null {
  wasmEngine();
  return unavailable;
}

/**
 * Which path parses chunks of `spec` under `mode`: WASM whenever the spec is eligible (marts
 * included: their blocks are encoded inside WASM, see encodeMarts), unless `js` is forced.
 */
export function chooseParser(spec: ScanSpec, mode: ParseMode): 'wasm' | 'js' {
  if (mode === 'js' || wasmIneligible(spec) !== null) return 'js';
  return wasmEngine() === null ? 'js' : 'wasm';
}

/** Parses a chunk with the path `mode` and the spec allow (see chooseParser). */
export function parseChunkWith(
  mode: ParseMode,
  buf: Uint8Array,
  spec: ScanSpec,
  lookahead?: Lookahead,
  joins: JoinTable[] = [],
): ChunkOutcome {
  // A run with joins is never WASM-eligible (`joins` is not on the allow-list).
  return chooseParser(spec, mode) === 'wasm'
    ? parseChunkWasm(buf, spec, lookahead)
    : parseChunk(buf, spec, lookahead, joins);
}

/**
 * parseChunk through the WASM path; throws when the spec is not eligible or WASM is unavailable.
 * `countOrders`: a basket run's whole orders may be counted inside WASM (asm/baskets.ts).
 */
export function parseChunkWasm(
  buf: Uint8Array,
  spec: ScanSpec,
  lookahead?: Lookahead,
  countOrders = true,
): ChunkOutcome {
  const why = wasmIneligible(spec);
  if (why !== null) throw new Error(`the WASM parse path cannot take this chunk: ${why}`);
  const e = wasmEngine();
  if (e === null) throw new Error(unavailable ?? 'WASM unavailable');
  const n = buf.length;
  const limit = spec.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  e.configure(
    spec.delimiter,
    spec.fieldCount,
    spec.price,
    spec.quantity,
    spec.revenue,
    spec.date,
    spec.dateFormat === null ? 0 : FMT[spec.dateFormat],
    spec.decimalComma ? 0x2c : 0x2e,
    spec.scale,
    limit,
    spec.dimensions.length,
    spec.maxKeys,
  );
  const keyed = [...spec.dimensions, ...(spec.marts ?? [])];
  for (const [k, d] of keyed.entries()) e.setDimension(k, d.index);
  e.setMarts(spec.marts?.length ?? 0);
  const itemTable = basketTable(spec);
  e.setBasket(
    itemTable < 0 ? -1 : (spec.order as number),
    spec.item ?? -1,
    itemTable,
    countOrders && spec.shipAllOrders !== true,
  );
  const customers = wasmCustomers(spec);
  const nMarts = spec.marts?.length ?? 0;
  e.setCustomer(customers?.col ?? -1, customers?.table ?? -1, nMarts, customers?.own ? 1 : 0);
  let status: number;
  try {
    const at = e.prepare(n);
    new Uint8Array(e.memory.buffer, at, n).set(buf);
    if (keyed.length > spec.dimensions.length || customers !== null)
      e.sizeMarts(n, spec.dimensions.length, keyed.length - spec.dimensions.length);
    status = e.scan(n);
  } catch (err) {
    // A trap (memory the module cannot grow to, for a huge chunk): this chunk goes to JS.
    if (err instanceof Error && err.constructor.name === 'RuntimeError')
      return parseChunk(buf, spec, lookahead);
    throw err;
  }
  if (status === STATUS_REDO) return parseChunkWasm(buf, spec, lookahead, false);
  // Anything over --max-keys: the JS path gives the error it always gives.
  if (status === STATUS_TOO_MANY_KEYS) return parseChunk(buf, spec, lookahead);
  // Scanning may have grown memory, which detaches earlier views: make them now.
  const scanned = new BigUint64Array(e.memory.buffer, e.resultPtr(), R_WORDS);
  const ranges = new Uint32Array(e.memory.buffer, e.fallbackPtr(), Number(scanned[R_FALLBACKS]) * 3).slice();
  const agg = new ChunkAggregator(spec);
  // WASM's basket rows reach the collector between the JS ranges, in file order.
  const baskets =
    agg.baskets === null ? null : basketRows(e, e.memory.buffer, agg.baskets, itemTable, buf, spec);
  for (let i = 0; i < ranges.length; i += 3) {
    baskets?.feedBefore(ranges[i]);
    scanBlock(agg, buf, ranges[i], ranges[i + 1], ranges[i + 2]);
  }
  baskets?.feedBefore(Number.POSITIVE_INFINITY);
  // JS's rows broke the ascending ids WASM's order counts rely on (rare): again, without them.
  if (baskets !== null && !baskets.countsHold) return parseChunkWasm(buf, spec, lookahead, false);
  const encoded = encodeMarts(e, spec, agg);
  const days = customers === null ? null : encodeDays(e, spec, agg);
  // So may encoding.
  const mem = e.memory.buffer;
  const res = new BigUint64Array(mem, e.resultPtr(), R_WORDS);
  const part = readCounted(e, mem, res, buf, spec, encoded);
  if (customers !== null && days === null)
    part.customerDays = readCells(e, mem, nMarts, readKeys(e, mem, customers.table, buf, false));
  agg.addCounted(part);
  const lines = Number(res[R_LINES]);
  lastWasmScan.rows = part.rows;
  lastWasmScan.fallbacks = ranges.length / 3;
  lastWasmScan.rest = res[R_REST] === 1n;
  lastWasmScan.martsEncoded = encoded.filter((r) => r !== null).length;
  lastWasmScan.daysEncoded = days !== null;
  lastWasmScan.ordersInWasm = baskets?.ordersInWasm ?? 0;
  return {
    agg: agg.toAgg(),
    lines,
    rejects: agg.rejects,
    omitted: [...agg.omitted].map(([reason, [count, line]]) => [reason, count, line]),
    endsInQuote:
      agg.undecided.length > 0 &&
      (lookahead === undefined || !confirmed(buf, agg.undecided, spec, agg.limit, lookahead)),
    cells: agg.keyedRuns(encoded, days),
  };
}

/**
 * Each mart's run encoded inside WASM (asm/mart-blocks.ts), or null where JS must encode it from
 * read-back cells: a JS row reached a mart or raised the scale, an amount is past 2^53, keys share
 * very long prefixes, or memory ran out. The blocks are subarrays of one copy out of linear memory.
 */
function encodeMarts(e: Exports, spec: ScanSpec, agg: ChunkAggregator): (KeyedRun | null)[] {
  const marts = spec.marts ?? [];
  if (marts.length === 0 || !agg.martsUntouched()) return marts.map(() => null);
  return marts.map((d, m): KeyedRun | null => {
    let n: number;
    try {
      n = e.encodeMart(m, spec.dimensions.length, spec.scale);
    } catch (err) {
      if (err instanceof Error && err.constructor.name === 'RuntimeError') return null;
      throw err;
    }
    return n < 0 ? null : { kind: 'mart', name: d.name, blocks: takeBlocks(e, n) };
  });
}

/**
 * The customers' `days` run encoded inside WASM, or null where the JS side must encode it: a JS
 * row reached the customers or raised the scale, or as for a mart (encodeMarts).
 */
function encodeDays(e: Exports, spec: ScanSpec, agg: ChunkAggregator): KeyedRun | null {
  if (!agg.customersUntouched()) return null;
  let n: number;
  try {
    n = e.encodeDays(spec.scale);
  } catch (err) {
    if (err instanceof Error && err.constructor.name === 'RuntimeError') return null;
    throw err;
  }
  return n < 0 ? null : { kind: 'cust', name: CUSTOMER_RUNS.days, blocks: takeBlocks(e, n) };
}

/** Runs buf[s, e), whose first line is `line` of the chunk, through the JS row parser. */
function scanBlock(agg: ChunkAggregator, buf: Uint8Array, s: number, e: number, line: number): void {
  const rejects = agg.rejects.length;
  const omitted = agg.omitted.size;
  const undecided = agg.undecided.length;
  agg.scan(buf.subarray(s, e));
  for (let i = rejects; i < agg.rejects.length; i++) agg.rejects[i][0] += line;
  let i = 0;
  for (const group of agg.omitted.values()) if (i++ >= omitted) group[1] += line;
  for (let k = undecided; k < agg.undecided.length; k++) agg.undecided[k] += s;
}
