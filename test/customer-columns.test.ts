import { describe, expect, it } from 'vitest';
import { parseColumnOptions } from '../src/config-columns.js';
import { customerColumns, detectByName, mayHaveCustomers } from '../src/coordinator/customer-columns.js';

const opts = (raw: Parameters<typeof parseColumnOptions>[0] = {}) => parseColumnOptions(raw);

describe('customer, order and category columns', () => {
  it('detects exact names first, in list order, then ignoring case', () => {
    expect(detectByName(['x', 'Customer ID', 'customer'], ['customer_id', 'Customer ID', 'customer'])).toBe(
      1,
    );
    expect(detectByName(['CUSTOMER_ID', 'customer'], ['customer_id', 'customer'])).toBe(1);
    expect(detectByName(['CUSTOMER_ID', 'y'], ['customer_id', 'customer'])).toBe(0);
    expect(detectByName(['invoiceno'], ['order_id', 'Order ID', 'InvoiceNo'])).toBe(0);
    expect(detectByName(['a', 'b'], ['order_id'])).toBe(-1);
  });

  it('gives column indexes for the spec, or none without a customer column', () => {
    const header = ['InvoiceNo', 'StockCode', 'Category', 'CustomerID', 'price'];
    const c = customerColumns(header, opts());
    expect(c).toMatchObject({ customer: 3, order: 0, category: 2 });
    expect(c.notes[0]).toBe('customers: "CustomerID", orders by "InvoiceNo", categories "Category"');
    expect(customerColumns(['region', 'price'], opts())).toEqual({ notes: [] });
    expect(customerColumns(header, opts({ customers: false }))).toEqual({
      notes: ['customers: off (--no-customers)'],
    });
    const given = customerColumns(header, opts({ customer: 'stockcode', order: 'price' }));
    expect(given).toMatchObject({ customer: 1, order: 4, category: 2 });
  });

  it('names the bad option and the file columns', () => {
    expect(() => customerColumns(['a', 'b'], opts({ customer: 'who' }))).toThrow(
      /--customer "who" is not a column of this file; its columns are: a, b/,
    );
    expect(() => customerColumns(['a', 'b'], opts({ category: 'a' }))).toThrow(
      /--category needs a customer column: name it with --customer/,
    );
    // --order alone also serves baskets, which need no customer column.
    expect(customerColumns(['a', 'b'], opts({ order: 'a' }))).toEqual({ notes: [] });
    expect(() => customerColumns(['customer_id', 'b'], opts({ order: 'customer_id' }))).toThrow(
      /--order names the customer column/,
    );
    expect(() => opts({ customer: 'x', customers: false })).toThrow(
      /--customer and --no-customers contradict/,
    );
  });

  it('tells from a header line whether local workers will build customers', () => {
    expect(mayHaveCustomers('order_id,customer_id,price', opts())).toBe(true);
    expect(mayHaveCustomers('"Customer ID";"Price"', opts())).toBe(true);
    expect(mayHaveCustomers('region,price', opts())).toBe(false);
    expect(mayHaveCustomers('region,price', opts({ customer: 'region' }))).toBe(true);
    expect(mayHaveCustomers('customer_id,price', opts({ customers: false }))).toBe(false);
  });
});
