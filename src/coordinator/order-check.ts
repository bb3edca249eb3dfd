/**
 * The coordinator's checks for baskets counted in chunks: results from workers that count orders
 * the old way, order ids spread over several chunks (the reason for a second pass), and the
 * reason a resumed run is in its second pass.
 */

import type { OrderConflicts } from '../aggregate/basket-count.js';
import type { KeyedRun } from '../aggregate/keyed-cells.js';
import { checkOrderIds, hasNamedPairs } from '../db/baskets.js';
import type { Store } from '../db/store.js';
import { ProtocolError, SalesgridError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';
import { RUN_ORDERS, RUN_PAIRS_BY_NAME, RUN_RANGE } from '../worker/basket-runs.js';
import { basketColumns } from './order-columns.js';
import type { SecondPass } from './run-types.js';

/** Refuses a chunk's basket runs that this run cannot count (an older worker's). */
export function checkBasketRuns(cells: KeyedRun[], spec: ScanSpec): void {
  for (const r of cells) {
    if (r.kind !== 'basket') continue;
    if (r.name === RUN_PAIRS_BY_NAME) throw new ProtocolError('item pairs by name (is the worker older?)');
    if (spec.shipAllOrders === true && (r.name === RUN_ORDERS || r.name === RUN_RANGE))
      throw new ProtocolError(
        'orders counted in a chunk of a run that ships every order (is the worker older?)',
      );
  }
}

/** With baskets counted in chunks: which order ids turn up in more than one chunk (read-only). */
export function checkOrders(
  store: Store,
  runId: number,
  spec: ScanSpec,
  scale: number,
): OrderConflicts | undefined {
  if (basketColumns(spec) === null) return undefined;
  if (hasNamedPairs(store, runId))
    throw new SalesgridError(
      'E_RESUME',
      `run ${runId} holds item pairs spilled by an older salesgrid, which this one cannot count; start a new run without --resume`,
      { exitCode: 2 },
    );
  if (spec.shipAllOrders === true) return undefined;
  return checkOrderIds(store, runId, scale);
}

export function secondPassWarning(c: OrderConflicts): string {
  const ex = c.examples.map((e) => JSON.stringify(e)).join(', ');
  return `baskets: ${c.count.toLocaleString('en-US')} order id(s) occur in more than one chunk (e.g. ${ex}): the orders are not contiguous in the file; counting again in a second pass that sends every order's items to the coordinator`;
}

/** The reason a resumed run is in its second pass, kept in its options by the restart. */
export function storedSecondPass(store: Store, runId: number): SecondPass | undefined {
  const options = store.getRun(runId)?.options;
  if (options === undefined) return undefined;
  const s = (JSON.parse(options) as { secondPass?: SecondPass }).secondPass;
  return s !== undefined && typeof s.orderIds === 'number' && Array.isArray(s.examples) ? s : undefined;
}
