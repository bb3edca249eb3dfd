/**
 * RFC 4180 tokenizer over bytes. It records field offsets in typed arrays and never builds a
 * string; a sink decides what to do with each record. Quoted fields may hold delimiters, doubled
 * quotes and line breaks, up to the limit of quote-limit.ts. CRLF and LF both end a record.
 */

import {
  brokenLineEnd,
  DEFAULT_MAX_FIELD_BYTES,
  judgeQuote,
  QUOTE_CLOSED,
  QUOTE_TEXT_AFTER,
  QUOTE_UNDECIDED,
  QuoteScan,
} from '../quote-limit.js';

export const QUOTE = 0x22;
export const LF = 0x0a;
export const CR = 0x0d;

/** Field flags. */
export const PLAIN = 0;
export const QUOTED = 1;
/** Quoted and holding doubled quotes: the bytes need unescaping before use as text. */
export const ESCAPED = 2;

/** Record problems found by the tokenizer itself. */
export const RECORD_OK = 0;
/**
 * A quote still open where the buffer ends, within the limit: judged broken for now. Only the
 * bytes after the buffer can confirm it (a worker asks for them, or the coordinator re-cuts).
 */
export const UNTERMINATED_QUOTE = 1;
export const TEXT_AFTER_QUOTE = 2;
/** A quote that never closes within the limit (see quote-limit.ts): its line is rejected. */
export const BROKEN_QUOTE = 3;

export interface RecordSink {
  /**
   * One record. `nf` fields were seen (offsets kept for the first `cap`). `line` is the record's
   * first line relative to the buffer start (0-based), or for a quote problem the line where the
   * quote opened; [start, end) its bytes without the line end.
   */
  record(line: number, nf: number, start: number, end: number, problem: number): void;
}

export class Fields {
  readonly cap: number;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly flag: Uint8Array;
  /** Offset of the opening quote of the last record's broken field (problems other than RECORD_OK). */
  brokenAt = -1;
  constructor(cap: number) {
    this.cap = cap;
    this.start = new Int32Array(cap);
    this.end = new Int32Array(cap);
    this.flag = new Uint8Array(cap);
  }
}

/**
 * Tokenizes buf[0, n); returns the number of LF bytes seen (physical lines ended). A buffer that
 * does not end with LF is taken to end at the end of the file. `limit` caps quoted fields.
 */
export function tokenize(
  buf: Uint8Array,
  n: number,
  delim: number,
  fields: Fields,
  sink: RecordSink,
  limit = DEFAULT_MAX_FIELD_BYTES,
): number {
  const sentinel = n > 0 && buf[n - 1] === LF;
  const view = new DataView(buf.buffer, buf.byteOffset, n);
  const delim4 = Math.imul(delim, 0x01010101);
  const LF4 = 0x0a0a0a0a;
  const QUOTE4 = 0x22222222;
  const scan = new QuoteScan();
  const fs = fields.start;
  const fe = fields.end;
  const ff = fields.flag;
  const cap = fields.cap;
  let i = 0;
  let line = 0;
  while (i < n) {
    const recStart = i;
    const recLine = line;
    let nf = 0;
    let problem = RECORD_OK;
    let recEnd = n;
    let reportLine = recLine;
    for (;;) {
      let c = 0;
      if (buf[i] === QUOTE) {
        const open = i;
        // Fast path, the usual quoted field: closed on its own line, no doubled quote, a delimiter
        // or line end next. judgeQuote would say QUOTE_CLOSED; everything else goes to it.
        let e = open + 1;
        const fastStop = n < e + limit ? n : e + limit;
        while (e + 4 <= fastStop) {
          const w = view.getUint32(e, true);
          const x = w ^ QUOTE4;
          const y = w ^ LF4;
          const m = (((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080;
          if (m !== 0) {
            e += (31 - Math.clz32(m & -m)) >>> 3;
            break;
          }
          e += 4;
        }
        while (e < fastStop && buf[e] !== QUOTE && buf[e] !== LF) e++;
        let flag = QUOTED;
        let verdict = QUOTE_CLOSED;
        if (
          e < fastStop &&
          buf[e] === QUOTE &&
          e + 1 < n &&
          (buf[e + 1] === delim || buf[e + 1] === LF || (buf[e + 1] === CR && e + 2 < n && buf[e + 2] === LF))
        ) {
          // closed at e
        } else {
          verdict = judgeQuote(buf, view, open, n, delim, limit, !sentinel, scan);
          if (verdict === QUOTE_CLOSED) {
            e = scan.close;
            line += scan.lfs;
            if (scan.escaped) flag = ESCAPED;
          }
        }
        if (verdict !== QUOTE_CLOSED) {
          // Broken: the record ends at the end of the quote's own line; reading goes on after it.
          problem =
            verdict === QUOTE_TEXT_AFTER
              ? TEXT_AFTER_QUOTE
              : verdict === QUOTE_UNDECIDED
                ? UNTERMINATED_QUOTE
                : BROKEN_QUOTE;
          if (nf < cap) {
            fs[nf] = open + 1;
            fe[nf] = open + 1;
            ff[nf] = QUOTED;
          }
          nf++;
          fields.brokenAt = open;
          reportLine = line;
          const lf = brokenLineEnd(buf, open, n, scan);
          if (lf < 0) {
            recEnd = n;
            i = n;
          } else {
            recEnd = lf > open + 1 && buf[lf - 1] === CR ? lf - 1 : lf;
            line++;
            i = lf + 1;
          }
          break;
        }
        i = e + 1;
        if (nf < cap) {
          fs[nf] = open + 1;
          fe[nf] = e;
          ff[nf] = flag;
        }
        nf++;
        if (i < n && buf[i] === delim) {
          i++;
          if (i >= n) {
            // A delimiter as the buffer's last byte: one more, empty, field.
            if (nf < cap) {
              fs[nf] = i;
              fe[nf] = i;
              ff[nf] = PLAIN;
            }
            nf++;
            recEnd = n;
            break;
          }
          continue;
        }
        // The rule guarantees a line end (CR LF, LF) or the end of the buffer here.
        recEnd = i;
        if (i < n && buf[i] === CR) i++;
        if (i < n) line++;
        i++;
        break;
      }
      const s = i;
      if (sentinel) {
        // Four bytes at a time while a whole word fits: flag bytes equal to the delimiter or LF
        // (the classic has-zero-byte test on word ^ pattern). The lowest flag is always a true
        // match; bytes >= 0x80 never flag. The buffer ends with LF, so the byte loop needs no bounds test.
        while (i + 4 <= n) {
          const w = view.getUint32(i, true);
          const x = w ^ delim4;
          const y = w ^ LF4;
          const m = (((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080;
          if (m !== 0) {
            i += (31 - Math.clz32(m & -m)) >>> 3;
            break;
          }
          i += 4;
        }
        c = buf[i];
        while (c !== delim && c !== LF) c = buf[++i];
      } else {
        while (i < n) {
          c = buf[i];
          if (c === delim || c === LF) break;
          i++;
        }
      }
      let e = i;
      if (i >= n || c === LF) {
        if (e > s && buf[e - 1] === CR) e--;
        if (nf < cap) {
          fs[nf] = s;
          fe[nf] = e;
          ff[nf] = PLAIN;
        }
        nf++;
        recEnd = e;
        if (i < n) line++;
        i++;
        break;
      }
      if (nf < cap) {
        fs[nf] = s;
        fe[nf] = e;
        ff[nf] = PLAIN;
      }
      nf++;
      i++;
      if (i >= n) {
        // A delimiter as the buffer's last byte: one more, empty, field.
        if (nf < cap) {
          fs[nf] = i;
          fe[nf] = i;
          ff[nf] = PLAIN;
        }
        nf++;
        recEnd = n;
        break;
      }
    }
    sink.record(reportLine, nf, recStart, recEnd, problem);
  }
  return line;
}

/** Text of a field, unescaping doubled quotes. For slow paths only. */
export function fieldText(buf: Uint8Array, s: number, e: number, flag: number): string {
  const text = Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8');
  return flag === ESCAPED ? text.replaceAll('""', '"') : text;
}
