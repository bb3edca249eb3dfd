import { describe, expect, it } from 'vitest';
import type { ColumnOptions } from '../src/config-columns.js';
import { detectLayout } from '../src/coordinator/layout.js';
import { InputError } from '../src/errors.js';

const REFERENCE_HEADER =
  'Region,Country,Item Type,Sales Channel,Order Priority,Order Date,Order ID,Ship Date,' +
  'Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit';

const REFERENCE_ROWS = [
  'Australia and Oceania,Tuvalu,Baby Food,Offline,H,5/28/2010,669165933,6/27/2010,9925,255.28,159.42,2533654.00,1582243.50,951410.50',
  'Central America and the Caribbean,Grenada,Cereal,Online,C,8/22/2012,963881480,9/15/2012,2804,205.70,117.11,576782.80,328376.44,248406.36',
  'Europe,Russia,Office Supplies,Offline,L,5/2/2014,341417157,5/8/2014,1779,651.21,524.96,1158502.59,933903.84,224598.75',
  'Sub-Saharan Africa,Sao Tome and Principe,Fruits,Online,C,6/20/2014,514321792,7/5/2014,8102,9.33,6.92,75591.66,56065.84,19525.82',
  'Sub-Saharan Africa,Rwanda,Office Supplies,Offline,L,2/1/2013,115456712,2/6/2013,5062,651.21,524.96,3296425.02,2657347.52,639077.50',
];

const OPTS: ColumnOptions = { maxKeys: 1000 };

function input(text: string | Buffer, complete = true) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return { bytes, complete, path: 'sales.csv' };
}

function caught(fn: () => unknown): InputError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

describe('detectLayout: the reference layout', () => {
  it('finds price, quantity, date (mdy) and the dimensions by their names', () => {
    const text = `${REFERENCE_HEADER}\n${REFERENCE_ROWS.join('\n')}\n`;
    const layout = detectLayout(input(text), OPTS);
    const s = layout.spec;
    expect(layout.header).toEqual(REFERENCE_HEADER.split(','));
    expect(s.delimiter).toBe(0x2c);
    expect(s.fieldCount).toBe(14);
    expect(layout.header[s.price]).toBe('Unit Price');
    expect(layout.header[s.quantity]).toBe('Units Sold');
    expect(layout.header[s.date]).toBe('Order Date');
    expect(s.dateFormat).toBe('mdy');
    expect(s.revenue).toBe(-1);
    expect(s.decimalComma).toBe(false);
    expect(s.scale).toBe(2);
    expect(s.maxKeys).toBe(1000);
    expect(s.dimensions).toEqual([
      { name: 'Region', index: 0 },
      { name: 'Item Type', index: 2 },
      { name: 'Sales Channel', index: 3 },
    ]);
    expect(s.names[s.price]).toBe('Unit Price');
    expect(s.names[s.quantity]).toBe('Units Sold');
    expect(s.names[s.date]).toBe('Order Date');
    expect(layout.dataStart).toBe(REFERENCE_HEADER.length + 1);
    expect(layout.headerLines).toBe(1);
    expect(layout.warnings).toEqual([]);
  });

  it('accepts a UTF-8 BOM and CRLF line ends, with dataStart after both', () => {
    const text = `${REFERENCE_HEADER}\r\n${REFERENCE_ROWS.join('\r\n')}\r\n`;
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    const layout = detectLayout(input(bytes), OPTS);
    expect(layout.dataStart).toBe(3 + REFERENCE_HEADER.length + 2);
    expect(bytes.subarray(layout.dataStart, layout.dataStart + 10).toString()).toBe(
      REFERENCE_ROWS[0].slice(0, 10),
    );
    expect(layout.header[0]).toBe('Region');
    expect(layout.header[13]).toBe('Total Profit');
    expect(layout.spec.dateFormat).toBe('mdy');
    expect(layout.headerLines).toBe(1);
  });

  it('works from a sample that ends mid-row', () => {
    const text = `${REFERENCE_HEADER}\n${REFERENCE_ROWS.join('\n')}\n`;
    const cut = Buffer.from(text).subarray(0, text.length - 30);
    const layout = detectLayout(input(cut, false), OPTS);
    expect(layout.spec.dateFormat).toBe('mdy');
    expect(layout.dataStart).toBe(REFERENCE_HEADER.length + 1);
  });

  it('uses the line total as revenue only when asked', () => {
    const text = `${REFERENCE_HEADER}\n${REFERENCE_ROWS.join('\n')}\n`;
    const layout = detectLayout(input(text), { ...OPTS, revenue: 'Total Revenue' });
    expect(layout.header[layout.spec.revenue]).toBe('Total Revenue');
    expect(layout.header[layout.spec.price]).toBe('Unit Price');
  });

  it('handles a header-only file', () => {
    const layout = detectLayout(input(`${REFERENCE_HEADER}\n`), OPTS);
    expect(layout.dataStart).toBe(REFERENCE_HEADER.length + 1);
    expect(layout.header).toHaveLength(14);
  });

  it('counts the lines of a quoted header field holding a line break', () => {
    const text = 'Region,"Unit\nPrice",Qty\nAsia,1.00,2\n';
    const layout = detectLayout(input(text), { ...OPTS, price: 'Unit\nPrice' });
    expect(layout.headerLines).toBe(2);
    expect(layout.dataStart).toBe(text.indexOf('Asia'));
    expect(layout.spec.price).toBe(1);
  });
});

describe('detectLayout: errors', () => {
  it('names the missing column and lists the columns for an explicit option', () => {
    const text = `${REFERENCE_HEADER}\n${REFERENCE_ROWS[0]}\n`;
    for (const opts of [
      { price: 'Price Each' },
      { quantity: 'Qty Ordered' },
      { date: 'Sold On' },
      { revenue: 'Line Total' },
      { dimensions: ['Region', 'Segment'] },
    ]) {
      const err = caught(() => detectLayout(input(text), { ...OPTS, ...opts }));
      expect(err.code).toBe('E_COLUMNS');
      const wanted = Object.values(opts).flat().at(-1) as string;
      expect(err.message).toContain(wanted);
      expect(err.message).toContain('Region, Country, Item Type');
      expect(err.message).toContain('Total Profit');
    }
  });

  it('throws E_COLUMNS when there is neither a price nor a line total', () => {
    const err = caught(() => detectLayout(input('Region,Order Date,Units Sold\nAsia,1/20/2020,3\n'), OPTS));
    expect(err.code).toBe('E_COLUMNS');
    expect(err.message).toMatch(/--price|--revenue/);
  });

  it('throws E_INPUT for an empty file', () => {
    const err = caught(() => detectLayout(input(''), OPTS));
    expect(err.code).toBe('E_INPUT');
    expect(err.exitCode).toBe(2);
  });

  it('throws E_INPUT when the first line is data, not a header', () => {
    const err = caught(() => detectLayout(input('Asia,1.00,3\nEurope,2.00,4\n'), OPTS));
    expect(err.code).toBe('E_INPUT');
  });

  it('throws E_INPUT when the header does not fit in the sample', () => {
    const err = caught(() => detectLayout(input('Region,Unit Price,Units Sold,Order', false), OPTS));
    expect(err.code).toBe('E_INPUT');
  });

  it('asks for --date-format when every date fits both month/day and day/month', () => {
    const text =
      'Region,Order Date,Units Sold,Unit Price\nAsia,1/2/2020,3,1.00\nAsia,12/11/2020,3,1.00\nAsia,5/5/2021,1,2.00\n';
    const err = caught(() => detectLayout(input(text), OPTS));
    expect(err.code).toBe('E_COLUMNS');
    expect(err.message).toContain('--date-format');
    expect(err.message).toContain('Order Date');
    expect(detectLayout(input(text), { ...OPTS, dateFormat: 'mdy' }).spec.dateFormat).toBe('mdy');
    expect(detectLayout(input(text), { ...OPTS, dateFormat: 'dmy' }).spec.dateFormat).toBe('dmy');
  });
});

describe('detectLayout: other layouts', () => {
  it('detects dmy when a first part exceeds 12', () => {
    const text = 'Region,Date,Qty,Price\nAsia,25/12/2020,3,1.00\nAsia,1/2/2020,3,1.00\n';
    expect(detectLayout(input(text), OPTS).spec.dateFormat).toBe('dmy');
  });

  it('detects ymd, ISO date-times included, and lowercase aliases', () => {
    const text =
      'date,product,qty,price,category\n2023-01-15,Pen,3,1.5000,Office\n2023-01-16 10:23:00,Ink,1,2.25,Office\n2023-02-01T09:00:00Z,Pad,2,0.99,Paper\n';
    const layout = detectLayout(input(text), OPTS);
    const s = layout.spec;
    expect(s.dateFormat).toBe('ymd');
    expect([s.date, s.quantity, s.price]).toEqual([0, 2, 3]);
    expect(s.scale).toBe(4);
    expect(s.dimensions).toEqual([{ name: 'category', index: 4 }]);
  });

  it('auto-detects a semicolon delimiter and decimal commas', () => {
    const text =
      'Region;Order Date;Units Sold;Unit Price\nAsia;1/20/2020;3;1.234,50\nEurope;2/21/2020;1;"7,25"\n';
    const layout = detectLayout(input(text), OPTS);
    expect(layout.spec.delimiter).toBe(0x3b);
    expect(layout.header).toEqual(['Region', 'Order Date', 'Units Sold', 'Unit Price']);
    expect(layout.spec.decimalComma).toBe(true);
    expect(layout.spec.price).toBe(3);
    expect(layout.spec.dateFormat).toBe('mdy');
  });

  it('auto-detects a tab delimiter', () => {
    const text = 'Region\tOrder Date\tUnits Sold\tUnit Price\nAsia\t1/20/2020\t3\t1.50\n';
    const layout = detectLayout(input(text), OPTS);
    expect(layout.spec.delimiter).toBe(0x09);
    expect(layout.spec.decimalComma).toBe(false);
  });

  it('uses a line total as revenue and price statistic when there is no unit price', () => {
    const text = 'Region,Order Date,Sales\nAsia,1/20/2020,10.00\n';
    const s = detectLayout(input(text), OPTS).spec;
    expect(s.price).toBe(-1);
    expect(s.revenue).toBe(2);
    expect(s.quantity).toBe(-1);
  });

  it('warns when the line total disagrees with price × quantity', () => {
    const text = `${REFERENCE_HEADER}\n${REFERENCE_ROWS[0].replace('2533654.00', '2533654.01')}\n${REFERENCE_ROWS[1]}\n`;
    const layout = detectLayout(input(text), OPTS);
    expect(layout.warnings).toHaveLength(1);
    expect(layout.warnings[0]).toContain('Total Revenue');
  });
});

describe('detectLayout: a stray quote in the sample', () => {
  /** Reference rows with M/D/YYYY dates that only month-first fits, 3 decimals in some prices. */
  function rows(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const price = i % 7 === 0 ? '12.345' : '651.21';
      out.push(
        `Europe,Russia,Office Supplies,Offline,L,${1 + (i % 12)}/${13 + (i % 15)}/2014,${i},5/8/2014,17,${price},524.96,1.00,1.00,1.00`,
      );
    }
    return out;
  }

  it('costs the sample one line: dates, precision and line breaks are detected from the rest', () => {
    const data = rows(3000);
    data[0] = `Europe,"France,Cereal,Online,H,1/2/2015,1,1/3/2015,5,1.00,1.00,5.00,5.00,0.00`;
    const text = `${REFERENCE_HEADER}\n${data.join('\n')}\n`;
    // An incomplete sample: the quote is still open where it ends, and is judged broken.
    const bytes = Buffer.from(text).subarray(0, 200_000);
    const layout = detectLayout(input(bytes, false), OPTS);
    expect(layout.spec.dateFormat).toBe('mdy');
    expect(layout.spec.scale).toBe(3);
    expect(layout.quotedNewlines).toBe(false);
    expect(layout.spec.maxFieldBytes).toBe(1024 * 1024);
  });

  it('two stray quotes do not pair up into one field across the lines between them', () => {
    const data = rows(50);
    data[3] = `Europe,"France,Cereal,Online,H,1/2/2015,1,1/3/2015,5,1.00,1.00,5.00,5.00,0.00`;
    data[9] = `"Asia,India,Cereal,Online,H,1/2/2015,1,1/3/2015,5,1.00,1.00,5.00,5.00,0.00`;
    const layout = detectLayout(input(`${REFERENCE_HEADER}\n${data.join('\n')}\n`), OPTS);
    expect(layout.spec.dateFormat).toBe('mdy');
    expect(layout.quotedNewlines).toBe(false);
  });

  it('takes the limit from --max-field-bytes', () => {
    const text = `${REFERENCE_HEADER}\n${rows(5).join('\n')}\n`;
    expect(detectLayout(input(text), { ...OPTS, maxFieldBytes: 4096 }).spec.maxFieldBytes).toBe(4096);
  });
});
