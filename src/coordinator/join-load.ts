/**
 * `--join` on the coordinator's side: loading a dimension CSV (capped, validated: header, key
 * column, one row per key, well-formed CSV) into the compact table the workers receive, and
 * resolving joined columns (`store_id.city`) into the scan spec. Every failure is a JoinError
 * (exit 2) raised before any worker is welcomed.
 */

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { JoinOption } from '../config-columns.js';
import { JoinError } from '../errors.js';
import {
  encodeJoinTable,
  type JoinTableData,
  MAX_JOIN_ATTRS,
  MAX_JOIN_ROWS,
  splitParts,
} from '../protocol/join-codec.js';
import { encodeMessage } from '../protocol/messages.js';
import type { Dimension, JoinRef, ScanSpec } from '../scan-spec.js';
import {
  ESCAPED,
  Fields,
  fieldText,
  RECORD_OK,
  type RecordSink,
  TEXT_AFTER_QUOTE,
  tokenize,
} from '../worker/tokenizer.js';
import { GrowU32, Interner } from './interner.js';

export interface LoadedJoin {
  option: JoinOption;
  data: JoinTableData;
  /** The table as workers receive it (join-codec.ts). */
  encoded: Uint8Array;
  /** SHA-256 of the file's bytes: a resumed run must join the same tables. */
  fingerprint: string;
  fileBytes: number;
  /** The attribute `top` shows beside a key: the first non-key column that is not all numbers or dates; -1 when none. */
  label: number;
}

const NUMBER_OR_DATE = /^\s*(-?\$?[\d.,]+|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?)\s*$/;

function guessDelimiter(firstLine: string): string {
  let best = ',';
  let most = 0;
  for (const d of [',', ';', '\t', '|']) {
    const n = firstLine.split(d).length - 1;
    if (n > most) [best, most] = [d, n];
  }
  return best;
}

/** Exact header name, else the one case-insensitive match; -1 when none. */
export function findHeader(header: string[], wanted: string): number {
  const exact = header.indexOf(wanted);
  if (exact >= 0) return exact;
  const hits = header.flatMap((h, i) => (h.toLowerCase() === wanted.toLowerCase() ? [i] : []));
  return hits.length === 1 ? hits[0] : -1;
}

/** Reads and checks one dimension table. */
export function loadJoin(opt: JoinOption, maxBytes: number): LoadedJoin {
  const where = `--join ${opt.name} (${opt.file})`;
  let size: number;
  try {
    size = fs.statSync(opt.file).size;
  } catch (err) {
    throw new JoinError(`${where}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (size > maxBytes)
    throw new JoinError(
      `${where} is ${size.toLocaleString('en-US')} bytes, over the ${maxBytes.toLocaleString('en-US')}-byte cap for a joined table; raise --max-join-bytes (up to 512MiB) or join a smaller table`,
      'E_JOIN_TOO_LARGE',
    );
  const bytes = fs.readFileSync(opt.file);
  if (bytes.length > maxBytes)
    throw new JoinError(`${where} grew past the cap while it was read`, 'E_JOIN_TOO_LARGE');
  const fingerprint = createHash('sha256').update(bytes).digest('hex');
  const nl = bytes.indexOf(0x0a);
  const delimiter = guessDelimiter(bytes.toString('utf8', 0, nl < 0 ? Math.min(bytes.length, 65536) : nl));

  // The workers' own tokenizer (and quote rule): fast, no string per field but the ones kept.
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const body = bytes.subarray(bom);
  const fields = new Fields(MAX_JOIN_ATTRS + 2);
  let header: string[] | null = null;
  let keyAt = -1;
  // Keys and each column's distinct values are interned by bytes: no string per field.
  const keys = new Interner();
  const keyLine = new GrowU32();
  const dicts: Interner[] = [];
  const ids: GrowU32[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const text = (f: number) => fieldText(body, fields.start[f], fields.end[f], fields.flag[f]);
  const slot = (t: Interner, f: number) => {
    if (fields.flag[f] !== ESCAPED) return t.intern(body, view, fields.start[f], fields.end[f]);
    const b = Buffer.from(text(f), 'utf8');
    return t.intern(b, new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
  };
  const sink: RecordSink = {
    record(rel, nf, _start, _end, problem) {
      const line = rel + 1;
      if (problem !== RECORD_OK)
        throw new JoinError(
          `${where} is not a well-formed CSV: line ${line}: ${problem === TEXT_AFTER_QUOTE ? 'text after a closing quote' : 'a quote that never closes'}`,
        );
      if (nf === 1 && fields.end[0] === fields.start[0]) return; // an empty line
      if (header === null) {
        if (nf > MAX_JOIN_ATTRS + 1)
          throw new JoinError(`${where} has more than ${MAX_JOIN_ATTRS + 1} columns`);
        const head = Array.from({ length: nf }, (_, f) => text(f).trim());
        header = head;
        keyAt = findHeader(head, opt.keyColumn);
        if (keyAt < 0)
          throw new JoinError(
            `${where} has no key column "${opt.keyColumn}"; its columns are: ${head.join(', ')}`,
          );
        const dup = head.find((h, i) => head.indexOf(h) !== i);
        if (dup !== undefined)
          throw new JoinError(`${where}: the column "${dup}" appears twice in the header`);
        for (let a = 0; a < nf - 1; a++) {
          dicts.push(new Interner());
          ids.push(new GrowU32());
        }
        return;
      }
      if (nf !== header.length)
        throw new JoinError(
          `${where} is not a well-formed CSV: line ${line} has ${nf} fields, the header ${header.length}`,
        );
      if (fields.end[keyAt] === fields.start[keyAt])
        throw new JoinError(`${where}: line ${line} has an empty key`);
      const k = slot(keys, keyAt);
      if (k < keyLine.length)
        throw new JoinError(
          `${where}: the key ${JSON.stringify(keys.text(k))} appears twice (lines ${keyLine.get(k)} and ${line}); a joined table needs one row per key`,
        );
      if (keyLine.length >= MAX_JOIN_ROWS)
        throw new JoinError(`${where} has more than ${MAX_JOIN_ROWS} rows`);
      keyLine.push(line);
      let a = 0;
      for (let c = 0; c < nf; c++) if (c !== keyAt) ids[a].push(slot(dicts[a++], c));
    },
  };
  if (!isUtf8(body)) throw new JoinError(`${where} is not UTF-8 text`);
  tokenize(body, body.length, delimiter.charCodeAt(0), fields, sink, Math.max(1, body.length));
  if (header === null) throw new JoinError(`${where} is empty: expected a header line`);
  const head = header as string[];
  const attrs = head.filter((_, i) => i !== keyAt);
  const data: JoinTableData = {
    name: opt.name,
    keyColumn: head[keyAt],
    attrs,
    keys: keys.column(),
    values: dicts.map((d) => d.column()),
    ids: ids.map((col) => col.toArray()),
  };
  const label = attrs.findIndex((_, a) =>
    Array.from({ length: dicts[a].size }, (_, v) => dicts[a].text(v)).some(
      (v) => v.trim() !== '' && !NUMBER_OR_DATE.test(v),
    ),
  );
  return {
    option: opt,
    data,
    encoded: encodeJoinTable(data),
    fingerprint,
    fileBytes: bytes.length,
    label: label >= 0 ? label : attrs.length > 0 ? 0 : -1,
  };
}

/** The join a column names as `FACTCOL.ATTR`, by the longest matching fact column. */
function joinOf(column: string, joins: JoinOption[]): { join: number; attr: string } | null {
  let best: { join: number; attr: string } | null = null;
  joins.forEach((j, k) => {
    const prefix = `${j.factColumn}.`;
    if (column.startsWith(prefix) && column.length > prefix.length) {
      if (best === null || joins[best.join].factColumn.length < j.factColumn.length)
        best = { join: k, attr: column.slice(prefix.length) };
    }
  });
  return best;
}

/** Column options without the joined ones, which the layout cannot see (they are not fact columns). */
export function plainColumns(columns: string[] | undefined, joins: JoinOption[]): string[] | undefined {
  return columns?.filter((c) => joinOf(c, joins) === null);
}

/**
 * Adds the joins to a scan spec: each join's fact column is found in the header, and each joined
 * `--dimension`/`--mart` becomes a column keyed by that fact column and read through the table.
 */
export function applyJoins(
  spec: ScanSpec,
  header: string[],
  loaded: LoadedJoin[],
  wanted: { dimensions?: string[]; marts?: string[] },
): { spec: ScanSpec; notes: string[] } {
  const joins: JoinRef[] = loaded.map((l) => {
    const index = findHeader(header, l.option.factColumn);
    if (index < 0)
      throw new JoinError(
        `--join ${l.option.name}: the fact file has no column "${l.option.factColumn}" to join on; its columns are: ${header.join(', ')}`,
      );
    return { name: l.option.name, index, bytes: l.encoded.length, attrs: l.data.attrs.length };
  });
  const options = loaded.map((l) => l.option);
  const resolve = (flag: string, list: string[] | undefined): Dimension[] =>
    (list ?? []).flatMap((col) => {
      const j = joinOf(col, options);
      if (j === null) return [];
      const t = loaded[j.join].data;
      const attr = findHeader(t.attrs, j.attr);
      if (attr < 0)
        throw new JoinError(
          `${flag} ${col}: the joined table ${t.name} has no column "${j.attr}"; its columns are: ${t.attrs.join(', ') || '(only the key)'}`,
        );
      const name = `${header[joins[j.join].index]}.${t.attrs[attr]}`;
      return [{ name, index: joins[j.join].index, join: j.join, attr }];
    });
  const unique = (list: Dimension[]) => list.filter((d, i) => list.findIndex((e) => e.name === d.name) === i);
  const dimensions = unique([...spec.dimensions, ...resolve('--dimension', wanted.dimensions)]);
  const marts = unique([...(spec.marts ?? []), ...resolve('--mart', wanted.marts)]);
  const names = [...spec.names];
  for (const j of joins) names[j.index] = header[j.index];
  const notes = loaded.map(
    (l, k) =>
      `join ${l.option.name}: "${header[joins[k].index]}" = ${l.option.file}:"${l.data.keyColumn}" (${l.data.keys.offsets.length - 1} rows; ${l.data.attrs.join(', ') || 'no other columns'})`,
  );
  const joinedNames = [...dimensions, ...marts].filter((d) => d.join !== undefined).map((d) => `"${d.name}"`);
  if (joinedNames.length > 0) notes.push(`joined columns: ${[...new Set(joinedNames)].join(', ')}`);
  return { spec: { ...spec, dimensions, marts, names, ...(joins.length > 0 ? { joins } : {}) }, notes };
}

/** Every table as encoded `join` frame bodies, in spec order: built once, sent after each welcome. */
export function joinFrames(loaded: LoadedJoin[]): Uint8Array[] {
  return loaded.flatMap((l) =>
    splitParts(l.encoded).map((data, seq) => encodeMessage({ type: 'join', name: l.data.name, seq, data })),
  );
}
