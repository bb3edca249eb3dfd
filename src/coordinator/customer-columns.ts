/**
 * Which columns feed the per-customer features: the customer, order and category columns, given
 * (`--customer`, `--order`, `--category`) or detected by name. Detection tries each name of the
 * list as an exact, case-sensitive header first, then the same list case-insensitively. Pure.
 */
import { type ColumnOptions, ORDER_ALIASES } from '../config-columns.js';
import { InputError } from '../errors.js';

export const CUSTOMER_NAMES = ['customer_id', 'Customer ID', 'CustomerID', 'customer'] as const;
export const CATEGORY_NAMES = ['category', 'Category', 'product_category', 'Product Category'] as const;

export interface CustomerColumns {
  customer?: number;
  order?: number;
  category?: number;
  notes: string[];
}

/** The first of `names` in the header: exact matches first, then case-insensitive ones; -1 if none. */
export function detectByName(header: readonly string[], names: readonly string[]): number {
  for (const n of names) {
    const i = header.indexOf(n);
    if (i >= 0) return i;
  }
  const lower = header.map((h) => h.toLowerCase());
  for (const n of names) {
    const i = lower.indexOf(n.toLowerCase());
    if (i >= 0) return i;
  }
  return -1;
}

/** The column a flag names: its exact header, else the one header equal to it ignoring case. */
export function namedColumn(header: readonly string[], option: string, wanted: string): number {
  const exact = header.indexOf(wanted);
  if (exact >= 0) return exact;
  const hits = header
    .map((h, i) => [h.toLowerCase(), i] as const)
    .filter(([h]) => h === wanted.toLowerCase());
  if (hits.length === 1) return hits[0][1];
  throw new InputError(
    `${option} "${wanted}" is not a column of this file; its columns are: ${header.join(', ')}`,
    'E_COLUMNS',
  );
}

/** The customer-feature columns of a header; none at all without a customer column. */
export function customerColumns(header: readonly string[], options: ColumnOptions): CustomerColumns {
  const pick = (option: string, flag: string | undefined, names: readonly string[]) =>
    flag !== undefined ? namedColumn(header, option, flag) : detectByName(header, names);
  if (options.noCustomers === true) return { notes: ['customers: off (--no-customers)'] };
  const customer = pick('--customer', options.customer, CUSTOMER_NAMES);
  if (customer < 0) {
    if (options.category !== undefined)
      throw new InputError(
        `--category needs a customer column: name it with --customer (detected names: ${CUSTOMER_NAMES.join(', ')})`,
        'E_COLUMNS',
      );
    return { notes: [] };
  }
  const order = pick('--order', options.order, ORDER_ALIASES);
  const category = pick('--category', options.category, CATEGORY_NAMES);
  for (const [i, option] of [
    [order, '--order'],
    [category, '--category'],
  ] as const) {
    if (i === customer)
      throw new InputError(`${option} names the customer column "${header[i]}"`, 'E_COLUMNS');
  }
  const notes = [
    `customers: "${header[customer]}", orders by ${order >= 0 ? `"${header[order]}"` : 'distinct purchase days'}${category >= 0 ? `, categories "${header[category]}"` : ''}`,
  ];
  return {
    customer,
    ...(order >= 0 ? { order } : {}),
    ...(category >= 0 ? { category } : {}),
    notes,
  };
}

/**
 * Whether a run over this header line could build the customers table: a cheap look before the
 * layout is read (local workers are started first), split on any usual delimiter.
 */
export function mayHaveCustomers(firstLine: string, options: ColumnOptions): boolean {
  if (options.noCustomers === true) return false;
  if (options.customer !== undefined) return true;
  const header = firstLine.split(/[,;|\t]/).map((h) => h.trim().replace(/^"|"$/g, ''));
  return detectByName(header, CUSTOMER_NAMES) >= 0;
}
