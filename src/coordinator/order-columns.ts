/**
 * The order and basket item columns: `--order`/`--item` by name, or detected (ORDER_ALIASES,
 * ITEM_ALIASES: an exact header first, in list order, then the same names in any case). Baskets
 * are counted only when an item column is asked for (`--item` or `--basket`), so a plain run pays
 * nothing for them.
 */
import { type ColumnOptions, DEFAULT_BASKET_ITEMS, ITEM_ALIASES, ORDER_ALIASES } from '../config-columns.js';
import type { BasketColumns } from '../db/baskets.js';
import { InputError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';
import { detectByName as detectNamed, namedColumn } from './customer-columns.js';

export { detectNamed };

export interface OrderColumns {
  order?: number;
  item?: number;
  basketItems?: number;
  shipAllOrders?: boolean;
  notes: string[];
}

export function resolveOrderColumns(header: string[], path: string, options: ColumnOptions): OrderColumns {
  const order =
    options.order !== undefined
      ? namedColumn(header, '--order', options.order)
      : detectNamed(header, ORDER_ALIASES);
  const wantsBasket = options.item !== undefined || options.basket === true;
  // Without baskets the order column serves only customers, whose note names it.
  if (!wantsBasket) return { ...(order >= 0 ? { order } : {}), notes: [] };
  const item =
    options.item !== undefined
      ? namedColumn(header, '--item', options.item)
      : detectNamed(header, ITEM_ALIASES);
  if (order < 0)
    throw new InputError(
      `${path}: baskets need an order id column; none of ${ORDER_ALIASES.join(', ')} is in the header, so name it with --order. Columns: ${header.join(', ')}`,
      'E_COLUMNS',
    );
  if (item < 0)
    throw new InputError(
      `${path}: --basket found no item column (${ITEM_ALIASES.join(', ')}); name it with --item. Columns: ${header.join(', ')}`,
      'E_COLUMNS',
    );
  if (item === order)
    throw new InputError(`${path}: --item and --order name the same column "${header[order]}"`, 'E_COLUMNS');
  const basketItems = options.basketItems ?? DEFAULT_BASKET_ITEMS;
  return {
    order,
    item,
    basketItems,
    ...(options.ordersScattered === true ? { shipAllOrders: true } : {}),
    notes: [
      `baskets: orders "${header[order]}", items "${header[item]}", pairs among the top ${basketItems}${options.ordersScattered === true ? ', every order counted by the coordinator' : ''}`,
    ],
  };
}

/** What the end of a run needs to count baskets, or null when the run has none. */
export function basketColumns(spec: ScanSpec): BasketColumns | null {
  if (spec.order === undefined || spec.item === undefined) return null;
  return {
    order: spec.names[spec.order] ?? '',
    item: spec.names[spec.item] ?? '',
    k: spec.basketItems ?? DEFAULT_BASKET_ITEMS,
  };
}
