/**
 * The quote rule, property-style: a naive reference parser (written from the rule's statement,
 * scanning to the end of the file for every quote) against the tokenizer over the whole file,
 * over careful cuts of random sizes, and over fast cuts at random line feeds confirmed by the
 * bytes after each chunk. Documents hold random stray quotes at random positions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseColumnOptions } from '../src/config-columns.js';
import { lastRecordCut } from '../src/coordinator/chunker.js';
import { UsageError } from '../src/errors.js';
import { openQuotesBroken } from '../src/quote-limit.js';
import { validateSpec } from '../src/scan-spec.js';
import {
  BROKEN_QUOTE,
  Fields,
  fieldText,
  RECORD_OK,
  type RecordSink,
  TEXT_AFTER_QUOTE,
  tokenize,
  UNTERMINATED_QUOTE,
} from '../src/worker/tokenizer.js';

const Q = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;

interface Rec {
  line: number;
  /** RECORD_OK, TEXT_AFTER_QUOTE or BROKEN_QUOTE (a quote open at a buffer's end counts as broken). */
  problem: number;
  start: number;
  end: number;
  fields: string[];
}

const text = (b: Uint8Array, s: number, e: number) => Buffer.from(b.subarray(s, e)).toString('latin1');

/** The rule, read literally, over a whole file. */
function reference(b: Uint8Array, limit: number): Rec[] {
  const n = b.length;
  const out: Rec[] = [];
  const lfBefore = (at: number) => b.subarray(0, at).filter((c) => c === LF).length;
  let i = 0;
  while (i < n) {
    const start = i;
    const fields: string[] = [];
    let problem = RECORD_OK;
    let line = lfBefore(start);
    let end = n;
    for (;;) {
      if (b[i] === Q) {
        const open = i;
        let close = -1;
        for (let j = open + 1; j < n; j++) {
          if (b[j] !== Q) continue;
          if (b[j + 1] === Q && j + 1 < n) {
            j++;
            continue;
          }
          close = j;
          break;
        }
        const within = close >= 0 && close - (open + 1) <= limit;
        const next = close + 1;
        const endsWell =
          within &&
          (next >= n ||
            b[next] === COMMA ||
            b[next] === LF ||
            (b[next] === CR && (next + 1 >= n || b[next + 1] === LF)));
        if (endsWell) {
          fields.push(text(b, open + 1, close).replaceAll('""', '"'));
          i = close + 1;
          if (b[i] === COMMA) {
            i++;
            if (i >= n) {
              fields.push('');
              end = n;
              break;
            }
            continue;
          }
          end = i;
          if (b[i] === CR) i++;
          i++;
          break;
        }
        const lfInside = within && b.subarray(open, close).includes(LF);
        problem = within && !lfInside ? TEXT_AFTER_QUOTE : BROKEN_QUOTE;
        fields.push('');
        line = lfBefore(open);
        const lf = b.indexOf(LF, open);
        end = lf < 0 ? n : lf > open + 1 && b[lf - 1] === CR ? lf - 1 : lf;
        i = lf < 0 ? n : lf + 1;
        break;
      }
      let j = i;
      while (j < n && b[j] !== COMMA && b[j] !== LF) j++;
      if (j >= n || b[j] === LF) {
        const e = j > i && b[j - 1] === CR ? j - 1 : j;
        fields.push(text(b, i, e));
        end = e;
        i = j + 1;
        break;
      }
      fields.push(text(b, i, j));
      i = j + 1;
      if (i >= n) {
        fields.push('');
        end = n;
        break;
      }
    }
    out.push({ line, problem, start, end, fields });
  }
  return out;
}

/** Tokenizes one chunk; records placed at file offsets and lines. Also returns quotes open at its end. */
function tokenizeChunk(
  b: Uint8Array,
  from: number,
  to: number,
  firstLine: number,
  limit: number,
): { recs: Rec[]; open: number[]; lfs: number } {
  const buf = b.subarray(from, to);
  const fields = new Fields(64);
  const recs: Rec[] = [];
  const open: number[] = [];
  const sink: RecordSink = {
    record(line, nf, start, end, problem) {
      if (problem === UNTERMINATED_QUOTE) open.push(fields.brokenAt);
      const fs: string[] = [];
      for (let k = 0; k < nf; k++) fs.push(fieldText(buf, fields.start[k], fields.end[k], fields.flag[k]));
      recs.push({
        line: firstLine + line,
        problem: problem === UNTERMINATED_QUOTE ? BROKEN_QUOTE : problem,
        start: from + start,
        end: from + end,
        fields: fs,
      });
    },
  };
  const lfs = tokenize(buf, buf.length, COMMA, fields, sink, limit);
  return { recs, open, lfs };
}

/** Careful cuts as the Chunker makes them: grow the window until it holds a record end. */
function carefulCuts(b: Uint8Array, sizes: number[], limit: number): number[] {
  const cuts: number[] = [];
  let pos = 0;
  let k = 0;
  while (pos < b.length) {
    let size = sizes[k++ % sizes.length];
    for (;;) {
      if (pos + size >= b.length) {
        pos = b.length;
        break;
      }
      const cut = lastRecordCut(b.subarray(pos, pos + size), size, true, COMMA, limit);
      if (cut > 0) {
        pos += cut;
        break;
      }
      size *= 2;
    }
    cuts.push(pos);
  }
  return cuts;
}

/** Bytes: plain text, delimiters, line ends, good quoted fields, and stray quotes anywhere. */
const piece = fc.constantFrom(
  'a',
  'bc',
  '7',
  ' ',
  ',',
  ',',
  '\n',
  '\n',
  '\r\n',
  '"',
  '"',
  '""',
  '"x,y"',
  '"two\nlines"',
  '"q""q"',
  '\r',
);
const doc = fc.array(piece, { maxLength: 120 }).map((p) => Buffer.from(p.join(''), 'latin1'));

function parseAll(b: Uint8Array, limit: number): Rec[] {
  return tokenizeChunk(b, 0, b.length, 0, limit).recs;
}

describe('the quote rule', () => {
  it('the tokenizer over a whole file follows the rule as stated', () => {
    fc.assert(
      fc.property(doc, fc.integer({ min: 0, max: 40 }), (b, limit) => {
        expect(parseAll(b, limit)).toEqual(reference(b, limit));
      }),
      { numRuns: 3000 },
    );
  });

  it('careful cuts of any sizes give the same records and rejects as the whole file', () => {
    fc.assert(
      fc.property(
        doc,
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        (b, limit, sizes) => {
          const whole = reference(b, limit);
          const starts = new Set(whole.map((r) => r.start));
          let from = 0;
          let line = 0;
          const got: Rec[] = [];
          for (const to of carefulCuts(b, sizes, limit)) {
            // Every cut falls just past a record's line end.
            if (to < b.length) expect(starts.has(to)).toBe(true);
            const { recs, lfs } = tokenizeChunk(b, from, to, line, limit);
            got.push(...recs);
            line += lfs;
            from = to;
          }
          expect(got).toEqual(whole);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('fast cuts at any line feeds: exact when the bytes after each chunk confirm its open quotes, caught otherwise', () => {
    let confirmedRuns = 0;
    let caughtRuns = 0;
    fc.assert(
      fc.property(
        doc,
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (b, limit, picks) => {
          const whole = reference(b, limit);
          const starts = new Set(whole.map((r) => r.start));
          const lfs: number[] = [];
          b.forEach((c, i) => {
            if (c === LF && i + 1 < b.length) lfs.push(i + 1);
          });
          const cuts = [
            ...new Set(picks.map((p) => lfs[p % Math.max(1, lfs.length)]).filter((c) => c !== undefined)),
          ]
            .sort((x, y) => x - y)
            .concat(b.length);
          let from = 0;
          let line = 0;
          let caught = false;
          const got: Rec[] = [];
          for (const to of cuts) {
            const chunk = tokenizeChunk(b, from, to, line, limit);
            const last = to >= b.length;
            const ok =
              last ||
              openQuotesBroken(
                b.subarray(from, to),
                chunk.open,
                b.subarray(to, to + limit + 4 + 64),
                to + limit + 4 + 64 >= b.length,
                COMMA,
                limit,
              );
            if (!ok) caught = true;
            // From a record start, a cut that is not one is always caught.
            if (!last && starts.has(from) && !starts.has(to)) expect(ok).toBe(false);
            got.push(...chunk.recs);
            line += chunk.lfs;
            from = to;
          }
          if (caught) caughtRuns++;
          else {
            confirmedRuns++;
            expect(got).toEqual(whole);
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(confirmedRuns).toBeGreaterThan(100);
    expect(caughtRuns).toBeGreaterThan(10);
  });
});

describe('--max-field-bytes', () => {
  it('takes a size, defaults to 1 MiB and refuses more than 16 MiB by name', () => {
    expect(parseColumnOptions({}).maxFieldBytes).toBe(1024 * 1024);
    expect(parseColumnOptions({ maxFieldBytes: '64KiB' }).maxFieldBytes).toBe(65536);
    expect(parseColumnOptions({ maxFieldBytes: '16MiB' }).maxFieldBytes).toBe(16 * 1024 * 1024);
    expect(() => parseColumnOptions({ maxFieldBytes: '17MiB' })).toThrow(
      /--max-field-bytes must be at most 16MiB/,
    );
    expect(() => parseColumnOptions({ maxFieldBytes: 'lots' })).toThrow(/--max-field-bytes must be a size/);
    expect(() => parseColumnOptions({ maxFieldBytes: '0' })).toThrow(UsageError);
  });

  it('travels in the scan spec, checked by the worker', () => {
    const spec = {
      delimiter: 44,
      fieldCount: 2,
      price: 0,
      quantity: -1,
      revenue: -1,
      date: -1,
      dateFormat: null,
      decimalComma: false,
      scale: 2,
      dimensions: [],
      maxKeys: 10,
      names: ['p', ''],
    };
    expect(validateSpec({ ...spec, maxFieldBytes: 4096 }).maxFieldBytes).toBe(4096);
    expect(validateSpec(spec).maxFieldBytes).toBeUndefined();
    for (const bad of [0, -1, 1.5, '4096', 17 * 1024 * 1024])
      expect(() => validateSpec({ ...spec, maxFieldBytes: bad })).toThrow(/bad scan spec/);
  });
});
