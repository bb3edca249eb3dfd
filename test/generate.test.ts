import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_TYPES, REFERENCE_HEADER, REGIONS } from '../src/generate/reference-model.js';
import { generateCsv } from '../src/generate.js';

const ROWS = 2000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function generate(name: string, seed: number, quoteText = false): Promise<string> {
  const out = path.join(dir, 'nested', name);
  const result = await generateCsv({ rows: ROWS, seed, out, quoteText });
  expect(result).toEqual({ rows: ROWS, bytes: fs.statSync(out).size, path: out });
  return fs.readFileSync(out, 'latin1');
}

function lines(text: string): string[] {
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

/** Decimal text with exactly two decimals to integer cents, without floats. */
function cents(text: string): bigint {
  expect(text).toMatch(/^\d+\.\d\d$/);
  return BigInt(text.replace('.', ''));
}

/** M/D/YYYY to a UTC day number, or NaN when it is not a real calendar date. */
function dayOf(text: string): number {
  const m = /^([1-9]\d?)\/([1-9]\d?)\/(\d{4})$/.exec(text);
  if (!m) return Number.NaN;
  const [month, day, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  const valid =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return valid ? date.getTime() / 86_400_000 : Number.NaN;
}

describe('generateCsv', () => {
  let plain = '';
  beforeAll(async () => {
    plain = await generate('a.csv', 7);
  });

  it('writes the reference header and one line per row', () => {
    const all = lines(plain);
    expect(all[0]).toBe(REFERENCE_HEADER);
    expect(all).toHaveLength(ROWS + 1);
    for (const line of all.slice(1)) expect(line.split(',')).toHaveLength(14);
  });

  it('leaves no temporary file behind', () => {
    expect(fs.readdirSync(path.join(dir, 'nested')).some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  it('is byte-identical for the same seed and differs for another', async () => {
    expect(await generate('b.csv', 7)).toBe(plain);
    expect(await generate('c.csv', 8)).not.toBe(plain);
  });

  it('uses known regions, countries, items, channels and priorities', () => {
    const countriesOf = new Map(REGIONS.map((r) => [r.name, new Set(r.countries)]));
    const items = new Set(ITEM_TYPES.map((i) => i.name));
    for (const line of lines(plain).slice(1)) {
      const [region, country, item, channel, priority] = line.split(',');
      expect(countriesOf.get(region)?.has(country)).toBe(true);
      expect(items.has(item)).toBe(true);
      expect(['Online', 'Offline']).toContain(channel);
      expect(['H', 'M', 'L', 'C']).toContain(priority);
    }
  });

  it('computes totals exactly in cents from fixed item prices', () => {
    const prices = new Map(ITEM_TYPES.map((i) => [i.name, i]));
    for (const line of lines(plain).slice(1)) {
      const f = line.split(',');
      const units = BigInt(f[8]);
      expect(Number(units)).toBeGreaterThanOrEqual(1);
      expect(Number(units)).toBeLessThanOrEqual(10_000);
      expect(f[6]).toMatch(/^[1-9]\d{8}$/);
      const price = cents(f[9]);
      const cost = cents(f[10]);
      expect(price).toBe(BigInt(prices.get(f[2])?.priceCents ?? -1));
      expect(cost).toBe(BigInt(prices.get(f[2])?.costCents ?? -1));
      expect(cents(f[11])).toBe(units * price);
      expect(cents(f[12])).toBe(units * cost);
      expect(cents(f[13])).toBe(units * price - units * cost);
    }
  });

  it('writes valid dates in range, shipping 0 to 50 days after the order', () => {
    const first = Date.UTC(2010, 0, 1) / 86_400_000;
    const last = Date.UTC(2017, 6, 28) / 86_400_000;
    for (const line of lines(plain).slice(1)) {
      const f = line.split(',');
      const order = dayOf(f[5]);
      const ship = dayOf(f[7]);
      expect(order).toBeGreaterThanOrEqual(first);
      expect(order).toBeLessThanOrEqual(last);
      expect(ship - order).toBeGreaterThanOrEqual(0);
      expect(ship - order).toBeLessThanOrEqual(50);
    }
  });

  it('quotes every text field and parses to the same records when quoteText is set', async () => {
    const quoted = await generate('q.csv', 7, true);
    const header = lines(quoted)[0];
    expect(header).toBe(
      REFERENCE_HEADER.split(',')
        .map((h) => `"${h}"`)
        .join(','),
    );
    const firstRow = lines(quoted)[1].split(',');
    expect(firstRow[0]).toMatch(/^".+"$/);
    expect(firstRow[6]).toMatch(/^\d+$/);
    expect(parse(quoted)).toEqual(parse(plain));
  });

  it('reports progress at the end and writes a header-only file for zero rows', async () => {
    const out = path.join(dir, 'empty.csv');
    const calls: Array<[number, number]> = [];
    const result = await generateCsv({
      rows: 0,
      seed: 1,
      out,
      onProgress: (rows, bytes) => calls.push([rows, bytes]),
    });
    expect(fs.readFileSync(out, 'latin1')).toBe(`${REFERENCE_HEADER}\n`);
    expect(calls).toEqual([[0, result.bytes]]);
  });

  it('rejects invalid options', async () => {
    const out = path.join(dir, 'bad.csv');
    await expect(generateCsv({ rows: -1, seed: 1, out })).rejects.toThrow(RangeError);
    await expect(generateCsv({ rows: 1, seed: 1.5, out })).rejects.toThrow(RangeError);
  });
});
