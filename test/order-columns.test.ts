import { describe, expect, it } from 'vitest';
import { ORDER_ALIASES, parseColumnOptions } from '../src/config-columns.js';
import { parseBasketOptions } from '../src/config-views.js';
import { basketColumns, detectNamed, resolveOrderColumns } from '../src/coordinator/order-columns.js';

const cols = (raw: Parameters<typeof parseColumnOptions>[0]) => parseColumnOptions(raw);

describe('order and item columns', () => {
  it('detects order ids in list order, exact names before any-case ones', () => {
    expect(detectNamed(['InvoiceNo', 'order_id'], ORDER_ALIASES)).toBe(1);
    expect(detectNamed(['invoiceno', 'Order ID'], ORDER_ALIASES)).toBe(1);
    expect(detectNamed(['ORDER_ID', 'invoiceno'], ORDER_ALIASES)).toBe(0);
    expect(detectNamed(['x', 'y'], ORDER_ALIASES)).toBe(-1);
  });

  it('baskets only when an item column is asked for; the plain run finds the order column silently', () => {
    const header = ['order_id', 'product', 'category', 'price'];
    expect(resolveOrderColumns(header, 'f.csv', cols({}))).toEqual({
      order: 0,
      notes: [],
    });
    const b = resolveOrderColumns(header, 'f.csv', cols({ basket: true }));
    expect(b).toMatchObject({ order: 0, item: 1, basketItems: 1000 });
    expect(resolveOrderColumns(header, 'f.csv', cols({ item: 'Category', basketItems: '50' }))).toMatchObject(
      {
        order: 0,
        item: 2,
        basketItems: 50,
      },
    );
    expect(resolveOrderColumns(['InvoiceNo', 'StockCode'], 'f.csv', cols({ basket: true }))).toMatchObject({
      order: 0,
      item: 1,
    });
  });

  it('refuses what cannot work, naming the flag', () => {
    expect(() => resolveOrderColumns(['id', 'product'], 'f.csv', cols({ item: 'product' }))).toThrow(
      /--order/,
    );
    expect(() => resolveOrderColumns(['order_id', 'x'], 'f.csv', cols({ basket: true }))).toThrow(/--item/);
    expect(() => resolveOrderColumns(['order_id', 'x'], 'f.csv', cols({ item: 'nope' }))).toThrow(
      /--item "nope" is not a column/,
    );
    expect(() => cols({ basketItems: '10' })).toThrow(/--basket-items needs --item/);
    expect(() => cols({ item: 'p', basketItems: '1' })).toThrow(
      /--basket-items must be an integer from 2 to 2000/,
    );
    expect(() => cols({ ordersScattered: true })).toThrow(/--orders-scattered needs --item/);
  });

  it('the end of a run gets the column names and K from the spec', () => {
    const spec = { names: ['order_id', 'product'], order: 0, item: 1, basketItems: 7 } as never;
    expect(basketColumns(spec)).toEqual({ order: 'order_id', item: 'product', k: 7 });
    expect(basketColumns({ names: [], order: 0 } as never)).toBeNull();
  });

  it('basket options', () => {
    expect(parseBasketOptions({ db: 'x.db' })).toMatchObject({
      by: 'lift',
      limit: 20,
      format: 'table',
      runId: null,
    });
    expect(parseBasketOptions({ db: 'x', by: 'confidence', json: true, minSupport: '0.01' })).toMatchObject({
      by: 'confidence',
      format: 'json',
      minSupport: 0.01,
    });
    expect(() => parseBasketOptions({ db: 'x', by: 'size' })).toThrow(
      /--by must be lift, confidence or support/,
    );
    expect(() => parseBasketOptions({ db: 'x', minSupport: '2' })).toThrow(
      /--min-support must be a number from 0 to 1/,
    );
    expect(() => parseBasketOptions({ db: 'x', json: true, csv: true })).toThrow(/exclude each other/);
  });
});
