/**
 * The customers on the WASM path (asm/customers.ts): which runs it takes and which key table the
 * customer column uses there. Pure: the rule is tested on its own.
 *
 * WASM builds only the `days` run. A run whose customers also count orders or categories (an
 * order or category column in the spec) keeps every chunk on the JS path, so its four customer
 * runs come from one place.
 */
import type { ScanSpec } from '../scan-spec.js';

export interface WasmCustomers {
  /** The customer column. */
  col: number;
  /** Its key table: the customer mart's (dimensions first, then marts), or its own after them. */
  table: number;
  /** True when the table is its own (no mart on the customer column). */
  own: boolean;
}

/** Why the WASM path cannot take this spec's customers, or null (also when it has none). */
export function customersIneligible(spec: ScanSpec): string | null {
  if (spec.customer === undefined) return null;
  if (spec.order !== undefined) return 'its customers count orders (an order column)';
  if (spec.category !== undefined) return 'its customers count categories (a category column)';
  return null;
}

/** The customer column's key table on the WASM path, or null without customers. */
export function wasmCustomers(spec: ScanSpec): WasmCustomers | null {
  if (spec.customer === undefined) return null;
  const marts = spec.marts ?? [];
  const m = marts.findIndex((d) => d.index === spec.customer && d.join === undefined);
  const table = spec.dimensions.length + (m >= 0 ? m : marts.length);
  return { col: spec.customer, table, own: m < 0 };
}
