/**
 * What a worker needs to parse a chunk: column indexes and formats, never the header text.
 * Built by the coordinator from the header and a sample; sent in `welcome`.
 */
import { ProtocolError } from './errors.js';
import { MAX_MAX_FIELD_BYTES } from './quote-limit.js';

export type DateFormat = 'mdy' | 'dmy' | 'ymd';

export interface Dimension {
  name: string;
  /** The fact column; for a joined attribute, the join's key column. */
  index: number;
  /** A joined attribute (`store_id.city`): the join (index into `joins`) and its attribute column. */
  join?: number;
  attr?: number;
}

/** A dimension table joined to the fact rows (`--join`); its bytes follow the welcome (join-codec.ts). */
export interface JoinRef {
  name: string;
  /** The fact column holding the key. */
  index: number;
  /** Length of the encoded table, sent in `join` frames. */
  bytes: number;
  /** Attribute columns of the table (for checking joined dimensions). */
  attrs: number;
}

export interface ScanSpec {
  /** Field delimiter byte (`,` `;` tab `|`). */
  delimiter: number;
  /** Fields every record must have. */
  fieldCount: number;
  /** Unit price column, or -1 when the file has only a line total. */
  price: number;
  /** Quantity column, or -1 for one unit per row. */
  quantity: number;
  /** Line-total column used as the row's revenue, or -1 for price × quantity. */
  revenue: number;
  /** Date column, or -1 for no trends. */
  date: number;
  dateFormat: DateFormat | null;
  /** Decimal separator is `,` (and `.` groups thousands), as in many European exports. */
  decimalComma: boolean;
  /** Money decimals the accumulators start at; a value with more decimals raises the scale exactly. */
  scale: number;
  dimensions: Dimension[];
  /** Columns aggregated per (key, month): the data marts. */
  marts?: Dimension[];
  /** Order id column (`--order` or detected), absent when none: distinct orders per customer (else distinct purchase days) and baskets. */
  order?: number;
  /** Basket item column (`--item`); orders and baskets are counted when both it and `order` are set. */
  item?: number;
  /** Pairs are kept among this many most frequent items (`--basket-items`); used at the end of a run. */
  basketItems?: number;
  /** `--orders-scattered`: every order's items go to the coordinator, exact for any order layout. */
  shipAllOrders?: boolean;
  /** Cap on distinct keys per dimension or mart. */
  maxKeys: number;
  /** Column names by index for reject reasons (only the used ones are non-empty). */
  names: string[];
  /**
   * Most content bytes a quoted field may hold before its quote is judged broken (quote-limit.ts).
   * Absent in runs recorded before the limit existed: the default then.
   */
  maxFieldBytes?: number;
  /** Dimension tables joined by key, in the order their `join` frames follow the welcome. */
  joins?: JoinRef[];
  /** Customer column: the run also builds per-customer features (worker/customer-cells.ts). */
  customer?: number;
  /** Category column (each customer's revenue per top category). */
  category?: number;
}

export const MAX_SCALE = 9;

function columnsOk(list: unknown, fieldCount: number, joins: JoinRef[] = []): boolean {
  return (
    Array.isArray(list) &&
    list.every(
      (d: Partial<Dimension> | null) =>
        d !== null &&
        typeof d === 'object' &&
        typeof d.name === 'string' &&
        Number.isInteger(d.index) &&
        (d.index as number) >= 0 &&
        (d.index as number) < fieldCount &&
        (d.join === undefined ||
          (Number.isInteger(d.join) &&
            joins[d.join as number] !== undefined &&
            joins[d.join as number].index === d.index &&
            Number.isInteger(d.attr) &&
            (d.attr as number) >= 0 &&
            (d.attr as number) < joins[d.join as number].attrs)),
    )
  );
}

function joinsOk(list: unknown, fieldCount: number): list is JoinRef[] | undefined {
  return (
    list === undefined ||
    (Array.isArray(list) &&
      list.length <= 64 &&
      list.every(
        (j: Partial<JoinRef> | null) =>
          j !== null &&
          typeof j === 'object' &&
          typeof j.name === 'string' &&
          j.name.length <= 4096 &&
          [j.index, j.bytes, j.attrs].every((v) => Number.isSafeInteger(v) && (v as number) >= 0) &&
          (j.index as number) < fieldCount,
      ))
  );
}

export function validateSpec(raw: unknown): ScanSpec {
  const s = raw as Partial<ScanSpec> | null;
  const ok =
    s !== null &&
    typeof s === 'object' &&
    Number.isInteger(s.delimiter) &&
    Number.isInteger(s.fieldCount) &&
    (s.fieldCount as number) > 0 &&
    (s.fieldCount as number) <= 10000 &&
    [s.price, s.quantity, s.revenue, s.date].every(
      (i) => Number.isInteger(i) && (i as number) >= -1 && (i as number) < (s.fieldCount as number),
    ) &&
    (s.dateFormat === null || s.dateFormat === 'mdy' || s.dateFormat === 'dmy' || s.dateFormat === 'ymd') &&
    typeof s.decimalComma === 'boolean' &&
    Number.isInteger(s.scale) &&
    (s.scale as number) >= 0 &&
    (s.scale as number) <= MAX_SCALE &&
    joinsOk(s.joins, s.fieldCount as number) &&
    columnsOk(s.dimensions, s.fieldCount as number, s.joins) &&
    (s.marts === undefined || columnsOk(s.marts, s.fieldCount as number, s.joins)) &&
    Number.isInteger(s.maxKeys) &&
    (s.maxKeys as number) > 0 &&
    Array.isArray(s.names) &&
    (s.price !== -1 || s.revenue !== -1) &&
    (s.maxFieldBytes === undefined ||
      (Number.isInteger(s.maxFieldBytes) &&
        (s.maxFieldBytes as number) >= 1 &&
        (s.maxFieldBytes as number) <= MAX_MAX_FIELD_BYTES)) &&
    (s.date === -1 || s.dateFormat !== null) &&
    [s.customer, s.order, s.category, s.item].every(
      (i) => i === undefined || (Number.isInteger(i) && i >= 0 && i < (s.fieldCount as number)),
    ) &&
    (s.basketItems === undefined || (Number.isInteger(s.basketItems) && s.basketItems >= 2)) &&
    (s.shipAllOrders === undefined || typeof s.shipAllOrders === 'boolean');
  if (!ok) throw new ProtocolError('malformed welcome: bad scan spec');
  return s as ScanSpec;
}
