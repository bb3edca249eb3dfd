/**
 * Seeded generators of CSV text for differential tests, plus a sink that turns tokenizer offsets
 * into strings.
 */
import { Fields, fieldText, type RecordSink, tokenize } from '../../src/worker/tokenizer.js';
import type { Rng } from './prng.js';

export interface TokRecord {
  line: number;
  nf: number;
  fields: string[];
  start: number;
  end: number;
  problem: number;
}

/** Runs the tokenizer over buf[0, n) and collects every record as strings. */
export function tokenizeToStrings(
  buf: Uint8Array,
  delim: string,
  n = buf.length,
  cap = 256,
  limit?: number,
): { records: TokRecord[]; lineFeeds: number } {
  const fields = new Fields(cap);
  const records: TokRecord[] = [];
  const sink: RecordSink = {
    record(line, nf, start, end, problem) {
      const out: string[] = [];
      for (let i = 0; i < Math.min(nf, cap); i++) {
        out.push(fieldText(buf, fields.start[i], fields.end[i], fields.flag[i]));
      }
      records.push({ line, nf, fields: out, start, end, problem });
    },
  };
  const lineFeeds = tokenize(buf, n, delim.charCodeAt(0), fields, sink, limit);
  return { records, lineFeeds };
}

export function countLf(buf: Uint8Array): number {
  let n = 0;
  for (const b of buf) if (b === 0x0a) n++;
  return n;
}

const TEXT = ['a', 'b', 'Z', 'q', '0', '7', ' ', '.', '-', '$', '_', 'é', 'ß', 'Ω', '日本', '😀', 'ü'];

/** A field as written in the file and the value it stands for. */
export interface GenField {
  text: string;
  value: string;
  quoted: boolean;
}

export interface GenRecord {
  /** 0-based physical line where the record starts. */
  line: number;
  fields: string[];
  /** The record's text without its line end. */
  raw: string;
}

export interface GenDoc {
  text: string;
  delimiter: string;
  eol: string;
  records: GenRecord[];
}

function plainText(rng: Rng, maxLen: number): string {
  let s = '';
  const len = rng.int(1, maxLen);
  for (let i = 0; i < len; i++) s += rng.pick(TEXT);
  return s;
}

export function genField(rng: Rng, delim: string): GenField {
  const r = rng.next();
  if (r < 0.12) return { text: '', value: '', quoted: false };
  if (r < 0.17) return { text: '""', value: '', quoted: true };
  if (r < 0.6) {
    const v = plainText(rng, 8);
    return { text: v, value: v, quoted: false };
  }
  // Quoted: text, delimiters (ours and others), doubled quotes, LF and CRLF.
  let text = '"';
  let value = '';
  const parts = rng.int(1, 6);
  for (let i = 0; i < parts; i++) {
    const k = rng.next();
    if (k < 0.35) {
      const t = plainText(rng, 5);
      text += t;
      value += t;
    } else if (k < 0.5) {
      text += delim;
      value += delim;
    } else if (k < 0.6) {
      const other = rng.pick([',', ';', '\t', '|']);
      text += other;
      value += other;
    } else if (k < 0.75) {
      text += '""';
      value += '"';
    } else if (k < 0.88) {
      text += '\n';
      value += '\n';
    } else {
      text += '\r\n';
      value += '\r\n';
    }
  }
  return { text: `${text}"`, value, quoted: true };
}

export interface GenOptions {
  delimiter?: string;
  eol?: string;
  maxRecords?: number;
}

/**
 * A random document: one delimiter and one line ending per document, ragged rows, final line
 * with or without a line end. A record is never a lone empty unquoted field (a blank line);
 * blank lines have their own targeted tests.
 */
export function genDoc(rng: Rng, opts: GenOptions = {}): GenDoc {
  const delimiter = opts.delimiter ?? rng.pick([',', ',', ';', '\t']);
  const eol = opts.eol ?? rng.pick(['\n', '\r\n']);
  const nrec = rng.int(1, opts.maxRecords ?? 25);
  const base = rng.int(1, 8);
  const ragged = rng.chance(0.3);
  const records: GenRecord[] = [];
  let text = '';
  let line = 0;
  for (let r = 0; r < nrec; r++) {
    const ncols = ragged ? rng.int(1, 10) : base;
    const fields: GenField[] = [];
    for (let c = 0; c < ncols; c++) fields.push(genField(rng, delimiter));
    if (ncols === 1 && fields[0].text === '') fields[0] = { text: 'x', value: 'x', quoted: false };
    const raw = fields.map((f) => f.text).join(delimiter);
    records.push({ line, fields: fields.map((f) => f.value), raw });
    const last = r === nrec - 1;
    const withEol = !last || rng.chance(0.5);
    text += raw + (withEol ? eol : '');
    line += (raw + (withEol ? eol : '')).split('\n').length - 1;
  }
  return { text, delimiter, eol, records };
}
