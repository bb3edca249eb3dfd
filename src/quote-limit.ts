/**
 * The one rule for quoted fields, shared by the workers' tokenizer, the coordinator's careful cuts
 * and the layout sample, so every chunking of a file gives the same records and rejects.
 *
 * A quote at a field's start opens a quoted field. The field is good when its closing quote comes
 * within `limit` bytes of content and is followed by a delimiter, a line end or the end of the
 * file. Otherwise (no close within the limit, no close before the end of the file, or text after
 * a close on a later line) the quote is broken: the record is rejected up to the end of the
 * physical line where the quote opened, and reading goes on at the next line. Text after a close
 * on the quote's own line ends the same way, with its own reason.
 */

export const DEFAULT_MAX_FIELD_BYTES = 1024 * 1024;
/** Kept well under the largest chunk, so a broken quote is always judged inside one. */
export const MAX_MAX_FIELD_BYTES = 16 * 1024 * 1024;

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const LF4 = 0x0a0a0a0a;
const QUOTE4 = 0x22222222;

/** The field closes properly at `close`. */
export const QUOTE_CLOSED = 0;
/** The quote never closes within the limit (or before the end of the file, or closes into text on a later line). */
export const QUOTE_BROKEN = 1;
/** The field closes on the quote's own line but text follows the closing quote. */
export const QUOTE_TEXT_AFTER = 2;
/** The bytes end before the rule can decide (only when `atEnd` is false). */
export const QUOTE_UNDECIDED = 3;

/** What `judgeQuote` found, besides its verdict. Reused across calls: no allocation per field. */
export class QuoteScan {
  /** Index of the closing quote (QUOTE_CLOSED, QUOTE_TEXT_AFTER), else -1. */
  close = -1;
  /** The content holds doubled quotes. */
  escaped = false;
  /** Line feeds inside the content up to the close (QUOTE_CLOSED). */
  lfs = 0;
  /** First line feed after the opening quote within the scanned bytes, or -1. */
  firstLf = -1;
}

/**
 * Judges the quoted field opened by the quote at buf[open], looking at buf[open, n) only. With
 * `atEnd`, n is the end of the file. Needs at most `limit + 4` bytes from `open` to decide.
 */
export function judgeQuote(
  buf: Uint8Array,
  view: DataView,
  open: number,
  n: number,
  delim: number,
  limit: number,
  atEnd: boolean,
  out: QuoteScan,
): number {
  const s = open + 1;
  const stop = Math.min(n, s + limit + 1);
  let i = s;
  let lfs = 0;
  let firstLf = -1;
  let escaped = false;
  let close = -1;
  out.close = -1;
  for (;;) {
    // Four bytes at a time to the next quote or LF (the has-zero-byte test on word ^ pattern).
    while (i + 4 <= stop) {
      const w = view.getUint32(i, true);
      const x = w ^ QUOTE4;
      const y = w ^ LF4;
      const m = (((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080;
      if (m !== 0) {
        i += (31 - Math.clz32(m & -m)) >>> 3;
        break;
      }
      i += 4;
    }
    if (i >= stop) break;
    const c = buf[i];
    if (c === QUOTE) {
      if (i + 1 < n) {
        if (buf[i + 1] === QUOTE) {
          escaped = true;
          i += 2;
          continue;
        }
      } else if (!atEnd) {
        out.firstLf = firstLf;
        return QUOTE_UNDECIDED;
      }
      close = i;
      break;
    }
    if (c === LF) {
      if (firstLf < 0) firstLf = i;
      lfs++;
    }
    i++;
  }
  out.firstLf = firstLf;
  out.escaped = escaped;
  if (close < 0) {
    if (i > s + limit || atEnd) return QUOTE_BROKEN;
    return QUOTE_UNDECIDED;
  }
  out.close = close;
  out.lfs = lfs;
  let j = close + 1;
  if (j < n && buf[j] === delim) return QUOTE_CLOSED;
  if (j < n && buf[j] === CR) j++;
  if (j >= n) return atEnd ? QUOTE_CLOSED : QUOTE_UNDECIDED;
  if (buf[j] === LF) return QUOTE_CLOSED;
  return lfs === 0 ? QUOTE_TEXT_AFTER : QUOTE_BROKEN;
}

/**
 * Where a record with a broken quote (or text after its close) ends: the first line feed after
 * the opening quote, or -1 when buf[open, n) holds none.
 */
export function brokenLineEnd(buf: Uint8Array, open: number, n: number, scan: QuoteScan): number {
  if (scan.firstLf >= 0) return scan.firstLf;
  const at = buf.indexOf(LF, open + 1);
  return at >= 0 && at < n ? at : -1;
}

/**
 * True when every quote in `opens` (offsets in buf, ascending), all still open where buf ends, is
 * broken given `after`, the bytes that follow buf (`atEnd`: the file ends after them). Needs
 * `after` to hold at least opens[0] + limit + 4 - buf.length bytes unless the file ends sooner.
 */
export function openQuotesBroken(
  buf: Uint8Array,
  opens: number[],
  after: Uint8Array,
  atEnd: boolean,
  delim: number,
  limit: number,
): boolean {
  if (opens.length === 0) return true;
  const from = opens[0];
  const joined = new Uint8Array(buf.length - from + after.length);
  joined.set(buf.subarray(from), 0);
  joined.set(after, buf.length - from);
  const view = new DataView(joined.buffer, joined.byteOffset, joined.length);
  const scan = new QuoteScan();
  for (const open of opens) {
    const verdict = judgeQuote(joined, view, open - from, joined.length, delim, limit, atEnd, scan);
    if (verdict !== QUOTE_BROKEN) return false;
  }
  return true;
}

/** The reject reason for a broken quote; `column` is 1-based. */
export function brokenQuoteReason(column: number): string {
  return `quote opened at column ${column} never closes`;
}

export const BROKEN_QUOTE_RE = /^quote opened at column \d+ never closes$/;
/** The same reasons as an SQL LIKE pattern. */
export const BROKEN_QUOTE_LIKE = 'quote opened at column % never closes';

/** The warning for one rejected line (1-based file line numbers). */
export function brokenQuoteWarning(line: number | null): string {
  return line === null
    ? 'a quote opened on a line never closes; that line was rejected and reading went on at the next line'
    : `line ${line}: a quote opened here never closes; that line was rejected and reading went on at line ${line + 1}`;
}
