/**
 * The end-of-run summary a person reads (tables, the broken-quote warning) or a script reads
 * (`--json`), for `run` and `coordinator`.
 */
import { groupThousands } from './aggregate/decimal.js';
import { DEFAULT_DB } from './config.js';
import type { RunSummary } from './coordinator/coordinator.js';
import type { BasketSummary } from './coordinator/run-types.js';
import type { BrokenQuotes } from './report.js';
import { renderTable } from './table.js';

/** Lines the run rejected for quotes that never close, read back from its database. */
async function brokenQuotesOf(s: RunSummary): Promise<BrokenQuotes | undefined> {
  if (s.totals.rejected === 0) return undefined;
  const [{ Store }, { brokenQuotes }] = await Promise.all([import('./db/store.js'), import('./report.js')]);
  const store = Store.openReadOnly(s.db);
  try {
    return brokenQuotes(store, s.runId, 10);
  } finally {
    store.close();
  }
}

export async function printSummary(
  s: RunSummary,
  json: boolean,
  command: 'run' | 'coordinator',
): Promise<void> {
  const quotes = await brokenQuotesOf(s);
  if (json) {
    process.stdout.write(
      `${JSON.stringify(quotes === undefined ? s : { ...s, brokenQuotes: quotes }, null, 2)}\n`,
    );
    return;
  }
  const t = s.totals;
  const lines = [
    '',
    `run ${s.runId} ${s.status} in ${(s.wallMs / 1000).toFixed(2)}s${s.resumed ? ' (resumed)' : ''}: ${s.chunks} chunks, ${s.retries} retries${s.duplicates ? `, ${s.duplicates} late duplicate(s) ignored` : ''}`,
    renderTable(
      [
        'rows',
        'rejected',
        'units',
        'revenue',
        ...['min', 'max', 'avg'].map((w) => `${w} ${s.priceBasis === 'unit price' ? 'price' : 'amount'}`),
      ],
      [
        [
          t.rows.toLocaleString('en-US'),
          t.rejected.toLocaleString('en-US'),
          groupThousands(t.units),
          groupThousands(t.revenue),
          t.minPrice === null ? '-' : groupThousands(t.minPrice),
          t.maxPrice === null ? '-' : groupThousands(t.maxPrice),
          t.avgPrice === null ? '-' : groupThousands(t.avgPrice),
        ],
      ],
    ),
  ];
  if (s.workers.length > 0) {
    lines.push(
      '',
      renderTable(
        ['worker', 'chunks', 'rows', 'revenue', 'busy s'],
        s.workers.map((w) => [
          w.workerId,
          w.chunks,
          w.rows.toLocaleString('en-US'),
          groupThousands(w.revenue),
          (w.busyMs / 1000).toFixed(2),
        ]),
      ),
    );
  }
  if (s.joins !== undefined && s.joins.length > 0) {
    const { joinStatLines } = await import('./report.js');
    lines.push('', ...joinStatLines(s.joins));
  }
  if (s.baskets !== undefined) lines.push('', ...basketLines(s.baskets));
  if (quotes !== undefined && quotes.count > 0) {
    const { brokenQuoteLines } = await import('./report.js');
    lines.push('', ...brokenQuoteLines(quotes));
  }
  lines.push('', `results in ${s.db}`);
  if (t.rejected > 0)
    lines.push(
      `${t.rejected.toLocaleString('en-US')} row(s) rejected: see them by reason with salesgrid report`,
    );
  if (s.status === 'done') {
    const db = s.db === DEFAULT_DB ? '' : ` --db ${s.db}`;
    lines.push(`next: salesgrid report${db}   |   salesgrid eda${db}`);
  } else if (s.status === 'interrupted')
    lines.push(
      `resume with: salesgrid ${command} ${s.file} --resume${s.db === DEFAULT_DB ? '' : ` --db ${s.db}`}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** With --json, a run that failed after it started still prints its summary (status "failed", error). */
export function printFailedSummary(err: unknown, json: boolean): void {
  const summary = (err as { summary?: RunSummary }).summary;
  if (json && summary !== undefined) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

function basketLines(b: BasketSummary): string[] {
  // Only a defect leaves this set: scattered orders are counted in a second pass.
  if (b.nonContiguous > 0)
    return [
      `baskets: NOT counted: ${b.nonContiguous.toLocaleString('en-US')} order id(s) were counted in more than one chunk`,
    ];
  const out: string[] = [];
  if (b.secondPass !== undefined)
    out.push(
      `baskets: counted in a second pass over the file, with every order's items sent to the coordinator: the first pass found ${b.secondPass.orderIds.toLocaleString('en-US')} order id(s) in more than one chunk (e.g. ${b.secondPass.examples.map((e) => JSON.stringify(e)).join(', ')}); --orders-scattered skips the first pass`,
    );
  out.push(
    `baskets: ${b.orders.toLocaleString('en-US')} orders, ${b.lines.toLocaleString('en-US')} lines, average order value ${b.avgOrderValue === null ? '-' : groupThousands(b.avgOrderValue)}; ${b.items.toLocaleString('en-US')} items, ${b.pairs.toLocaleString('en-US')} pairs (${b.shippedOrders.toLocaleString('en-US')} orders put together by the coordinator: cut by chunk edges, repeated in a chunk, or all of them in a second pass)`,
  );
  if (b.itemsLeftOut > 0)
    out.push(
      `baskets: ${b.itemsLeftOut.toLocaleString('en-US')} item(s) left out of the pair counts (only the ${(b.items - b.itemsLeftOut).toLocaleString('en-US')} most frequent; raise --basket-items)`,
    );
  if (b.noOrderLines > 0)
    out.push(
      `baskets: ${b.noOrderLines.toLocaleString('en-US')} line(s) have no order id and are in no order`,
    );
  out.push('rules: salesgrid basket --min-lift 1.2');
  return out;
}
