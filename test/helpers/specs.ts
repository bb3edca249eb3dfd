/** Scan specs of the layouts the WASM differential tests parse by hand. */
import type { ScanSpec } from '../../src/scan-spec.js';

/** order_id,item,price,quantity,date,region: baskets on order_id and item. */
export function basketSpec(over: Partial<ScanSpec> = {}): ScanSpec {
  return {
    delimiter: 0x2c,
    fieldCount: 6,
    price: 2,
    quantity: 3,
    revenue: -1,
    date: 4,
    dateFormat: 'ymd',
    decimalComma: false,
    scale: 2,
    dimensions: [{ name: 'region', index: 5 }],
    maxKeys: 100_000,
    names: ['order_id', 'item', 'price', 'quantity', 'date', 'region'],
    order: 0,
    item: 1,
    basketItems: 1000,
    ...over,
  };
}

/** customer_id,store_id,sales_date,sales_person_id,price,quantity,total_cost: a customer_id mart. */
export function starSpec(over: Partial<ScanSpec> = {}): ScanSpec {
  return {
    delimiter: 0x2c,
    fieldCount: 7,
    price: 4,
    quantity: 5,
    revenue: -1,
    date: 2,
    dateFormat: 'ymd',
    decimalComma: false,
    scale: 2,
    dimensions: [],
    marts: [{ name: 'customer_id', index: 0 }],
    maxKeys: 1_000_000,
    names: ['customer_id', 'store_id', 'sales_date', 'sales_person_id', 'price', 'quantity', 'total_cost'],
    ...over,
  };
}
