/** `top` over marts whose amounts pass 2^63: ranked exactly per month from the rank index, summed exactly per year (`sg_sum`). */
import { describe, expect, it } from 'vitest';
import { type MartRow, Store } from '../src/db/store.js';

function storeWith(cells: [string, string, bigint][]): { store: Store; runId: number } {
  const store = Store.open(':memory:');
  const runId = store.createRun({
    file: 'x.csv',
    size: 1,
    mtimeMs: 0,
    options: {},
    spec: {},
    dataStart: 0,
    headerLines: 1,
    chunkSize: 1,
    scale: 2,
    startedAt: 'now',
    lockOwner: 't',
    chunksTotal: null,
  });
  const rows: MartRow[] = cells.map(([month, key, v]) => {
    const digits = (v < 0n ? -v : v).toString().padStart(3, '0');
    const text = `${v < 0n ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
    return ['c', month, key, 1, 1, text, v];
  });
  store.finishRun(runId, 'done', 'now', null, { monthly: [], dims: [], marts: rows });
  return { store, runId };
}

describe('top over exact marts', () => {
  it('ranks amounts past 2^63 exactly per month, ties by key', () => {
    const big = 10n ** 30n;
    const { store, runId } = storeWith([
      ['2024-01', 'a', big + 1n],
      ['2024-01', 'b', big + 2n],
      ['2024-01', 'c', 5n],
      ['2024-01', 'd', -(10n ** 25n)],
      ['2024-01', 'e', big + 2n],
      ['2024-02', 'a', 7n],
    ]);
    const top = store.martTop(runId, 'c', 'month', 'revenue', 3);
    expect(top.map((r) => [r.period, r.rank, r.key, r.revenueScaled])).toEqual([
      ['2024-01', 1, 'b', big + 2n],
      ['2024-01', 2, 'e', big + 2n],
      ['2024-01', 3, 'a', big + 1n],
      ['2024-02', 1, 'a', 7n],
    ]);
    // Per year the sums stay exact in SQL (sg_sum over revenue_key): no refusal past 2^63.
    const year = store.martTop(runId, 'c', 'year', 'revenue', 3);
    expect(year.map((r) => [r.period, r.rank, r.key, r.revenueScaled])).toEqual([
      ['2024', 1, 'a', big + 8n],
      ['2024', 2, 'b', big + 2n],
      ['2024', 3, 'e', big + 2n],
    ]);
    store.close();
  });

  it('sums per year in SQL across months', () => {
    const { store, runId } = storeWith([
      ['2024-01', 'a', 100n],
      ['2024-02', 'a', 50n],
      ['2024-01', 'b', 120n],
    ]);
    const top = store.martTop(runId, 'c', 'year', 'revenue', 2);
    expect(top.map((r) => [r.period, r.key, r.revenueScaled])).toEqual([
      ['2024', 'a', 150n],
      ['2024', 'b', 120n],
    ]);
    store.close();
  });
});
