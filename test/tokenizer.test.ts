import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  BROKEN_QUOTE,
  ESCAPED,
  Fields,
  PLAIN,
  QUOTED,
  RECORD_OK,
  TEXT_AFTER_QUOTE,
  tokenize,
  UNTERMINATED_QUOTE,
} from '../src/worker/tokenizer.js';
import { countLf, genDoc, tokenizeToStrings } from './helpers/csv-gen.js';
import { Rng } from './helpers/prng.js';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** csv-parse as the reference. Records are arrays of strings. */
function reference(bytes: Buffer, delimiter: string, extra: Record<string, unknown> = {}): string[][] {
  return parse(bytes, { relax_column_count: true, bom: false, delimiter, ...extra }) as string[][];
}

/** Strips a UTF-8 BOM the way the coordinator does before bytes reach the tokenizer. */
function stripBom(buf: Buffer): Buffer {
  return buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? buf.subarray(3) : buf;
}

function sameRecords(a: string[][], b: string[][]): boolean {
  return (
    a.length === b.length && a.every((r, i) => r.length === b[i].length && r.every((f, j) => f === b[i][j]))
  );
}

/** The line each record starts on, counted independently: LF bytes before its first byte. */
function lineOf(buf: Uint8Array, offset: number): number {
  return countLf(buf.subarray(0, offset));
}

describe('tokenize vs csv-parse (differential)', () => {
  it('gives identical records for 2500 random documents', () => {
    const rng = new Rng(20240601);
    let records = 0;
    for (let doc = 0; doc < 2500; doc++) {
      const g = genDoc(rng);
      const withBom = rng.chance(0.2);
      const file = Buffer.concat([withBom ? BOM : Buffer.alloc(0), Buffer.from(g.text, 'utf8')]);
      const buf = stripBom(file);
      const expected = reference(buf, g.delimiter);
      const { records: got, lineFeeds } = tokenizeToStrings(buf, g.delimiter);
      const problems: string[] = [];
      const fields = got.map((r) => r.fields);
      if (!sameRecords(fields, expected))
        problems.push(`vs csv-parse: ${JSON.stringify([fields, expected])}`);
      if (
        !sameRecords(
          fields,
          g.records.map((r) => r.fields),
        )
      )
        problems.push('vs generator');
      for (let i = 0; i < got.length && i < g.records.length; i++) {
        const r = got[i];
        if (r.problem !== RECORD_OK) problems.push(`record ${i}: problem ${r.problem}`);
        if (r.nf !== r.fields.length) problems.push(`record ${i}: nf ${r.nf}`);
        if (r.line !== g.records[i].line || r.line !== lineOf(buf, r.start))
          problems.push(`record ${i}: line ${r.line}, expected ${g.records[i].line}`);
        if (buf.subarray(r.start, r.end).toString('utf8') !== g.records[i].raw)
          problems.push(`record ${i}: bytes [${r.start}, ${r.end})`);
      }
      if (lineFeeds !== countLf(buf)) problems.push(`line feeds ${lineFeeds}`);
      if (problems.length > 0)
        expect({ doc, text: g.text, problems }).toEqual({ doc, text: g.text, problems: [] });
      records += got.length;
    }
    expect(records).toBeGreaterThan(20_000);
  });

  it('agrees with csv-parse on documents mixing LF and CRLF line ends', () => {
    const rng = new Rng(77);
    for (let doc = 0; doc < 300; doc++) {
      const delimiter = rng.pick([',', ';', '\t']);
      let text = '';
      const n = rng.int(1, 10);
      for (let i = 0; i < n; i++) {
        text += genDoc(rng, { delimiter, maxRecords: 1 }).text.replace(/\r?\n$/, '');
        if (i < n - 1 || rng.chance(0.5)) text += rng.pick(['\n', '\r\n']);
      }
      const buf = Buffer.from(text, 'utf8');
      const expected = reference(buf, delimiter, { record_delimiter: ['\r\n', '\n'] });
      const { records, lineFeeds } = tokenizeToStrings(buf, delimiter);
      expect(
        records.map((r) => r.fields),
        JSON.stringify(text),
      ).toEqual(expected);
      expect(lineFeeds).toBe(countLf(buf));
    }
  });

  it('agrees with csv-parse on dense fuzz of quotes, delimiters and line ends whenever csv-parse accepts it', () => {
    const rng = new Rng(4242);
    const alphabet = ['a', 'b', ',', ',', '"', '"', '""', '\n', '\r\n', 'é'];
    let compared = 0;
    for (let doc = 0; doc < 3000; doc++) {
      let text = '';
      const len = rng.int(0, 24);
      for (let i = 0; i < len; i++) text += rng.pick(alphabet);
      const buf = Buffer.from(text, 'utf8');
      // Never throws; records tile the buffer in order, each on the line its offset says.
      const { records, lineFeeds } = tokenizeToStrings(buf, ',');
      let prevEnd = -1;
      let tiled = lineFeeds === countLf(buf);
      for (const r of records) {
        // A quote problem is placed on the line where its quote opened (within the record).
        const lineOk =
          r.problem === RECORD_OK
            ? r.line === lineOf(buf, r.start)
            : r.line >= lineOf(buf, r.start) && r.line <= lineOf(buf, r.end);
        if (r.start <= prevEnd || r.end < r.start || !lineOk) tiled = false;
        prevEnd = r.end;
      }
      if (!tiled) expect({ text, records, lineFeeds }).toBe('tiled');
      let expected: string[][] | null = null;
      try {
        expected = reference(buf, ',', { record_delimiter: ['\r\n', '\n'] });
      } catch {
        expected = null;
      }
      if (expected !== null && records.every((r) => r.problem === RECORD_OK)) {
        const fields = records.map((r) => r.fields);
        if (!sameRecords(fields, expected)) expect({ text, fields }).toEqual({ text, fields: expected });
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('handles unicode text, tabs and semicolons', () => {
    const cases: [string, string][] = [
      ['Région;Ärger;"日本;語"\r\n"😀""x""";;\r\n', ';'],
      ['a\tb c\t"tab\tinside"\n\t\t\n', '\t'],
      ['"multi\r\nline ü",x\n"",""\n', ','],
    ];
    for (const [text, delimiter] of cases) {
      const buf = Buffer.from(text, 'utf8');
      expect(tokenizeToStrings(buf, delimiter).records.map((r) => r.fields)).toEqual(
        reference(buf, delimiter),
      );
    }
  });
});

describe('tokenize: blank lines', () => {
  // Mapping: the tokenizer reports a blank line (nothing between two line ends, or a lone CR before
  // LF) as a record of one empty field, start === end. csv-parse 6 with skip_empty_lines off (its
  // default) gives [''] for the same line, so the two agree record for record. With
  // skip_empty_lines: true csv-parse drops the line instead; the scanner rejects it as an
  // "empty line" so that rows + rejected still equals the data lines.
  const cases = [
    'a,b\n\nc,d\n',
    'a,b\r\n\r\nc,d\r\n',
    '\n',
    '\r\n',
    '\n\n\na',
    'a\n\n',
    'a,b\n\n\n\nc',
    '"x\n\ny"\n\n',
  ];
  for (const text of cases) {
    it(`maps blank lines in ${JSON.stringify(text)}`, () => {
      const buf = Buffer.from(text, 'utf8');
      const { records, lineFeeds } = tokenizeToStrings(buf, ',');
      expect(records.map((r) => r.fields)).toEqual(reference(buf, ','));
      const blanks = records.filter((r) => r.nf === 1 && r.start === r.end);
      const skipped = parse(buf, {
        relax_column_count: true,
        bom: false,
        skip_empty_lines: true,
      }) as string[][];
      expect(records.length - blanks.length).toBe(skipped.length);
      for (const r of blanks) {
        expect(r.fields).toEqual(['']);
        expect(r.problem).toBe(RECORD_OK);
        expect(r.line).toBe(lineOf(buf, r.start));
      }
      expect(lineFeeds).toBe(countLf(buf));
    });
  }

  it('numbers lines across blank lines and multi-line records', () => {
    const buf = Buffer.from('h1,h2\n\n"a\nb",c\r\n\r\nd,e\n', 'utf8');
    const { records } = tokenizeToStrings(buf, ',');
    expect(records.map((r) => [r.line, r.fields])).toEqual([
      [0, ['h1', 'h2']],
      [1, ['']],
      [2, ['a\nb', 'c']],
      [4, ['']],
      [5, ['d', 'e']],
    ]);
  });
});

describe('tokenize: details', () => {
  it('flags plain, quoted and escaped fields', () => {
    const buf = Buffer.from('p,"q","e""x"\n', 'utf8');
    const fields = new Fields(4);
    const flags: number[] = [];
    tokenize(buf, buf.length, 0x2c, fields, {
      record(_line, nf) {
        for (let i = 0; i < nf; i++) flags.push(fields.flag[i]);
      },
    });
    expect(flags).toEqual([PLAIN, QUOTED, ESCAPED]);
  });

  it('counts every field but keeps offsets only for the first `cap`', () => {
    const buf = Buffer.from('a,b,c,d,e\nf\n', 'utf8');
    const { records } = tokenizeToStrings(buf, ',', buf.length, 2);
    expect(records.map((r) => [r.nf, r.fields])).toEqual([
      [5, ['a', 'b']],
      [1, ['f']],
    ]);
  });

  it('reads only buf[0, n) and honours a view with a byte offset', () => {
    const backing = Buffer.from('JUNK"x,y"\nz,w\nMORE', 'utf8');
    const view = backing.subarray(4);
    const n = view.indexOf('MORE');
    const { records, lineFeeds } = tokenizeToStrings(view, ',', n);
    expect(records.map((r) => r.fields)).toEqual([['x,y'], ['z', 'w']]);
    expect(lineFeeds).toBe(2);
  });

  it('gives a trailing delimiter at the end of the buffer one more empty field', () => {
    for (const [text, want] of [
      ['a,b,', [['a', 'b', '']]],
      ['"a",', [['a', '']]],
      ['x\n,', [['x'], ['', '']]],
    ] as const) {
      const buf = Buffer.from(text);
      expect(tokenizeToStrings(buf, ',').records.map((r) => r.fields)).toEqual(want);
      expect(reference(buf, ',')).toEqual(want);
    }
  });

  it('returns nothing for an empty buffer', () => {
    expect(tokenizeToStrings(Buffer.alloc(0), ',')).toEqual({ records: [], lineFeeds: 0 });
  });
});

describe('tokenize: malformed input', () => {
  it('judges a quote still open at the end of a chunk broken for now: its line only, reading goes on', () => {
    const buf = Buffer.from('a,b\nc,"open\nstill open\n', 'utf8');
    const { records, lineFeeds } = tokenizeToStrings(buf, ',');
    expect(records.map((r) => [r.line, r.problem, r.fields])).toEqual([
      [0, RECORD_OK, ['a', 'b']],
      [1, UNTERMINATED_QUOTE, ['c', '']],
      [2, RECORD_OK, ['still open']],
    ]);
    expect(buf.subarray(records[1].start, records[1].end).toString()).toBe('c,"open');
    expect(lineFeeds).toBe(3);
  });

  it('judges a quote that runs to the end of the file broken (no line feed at the end)', () => {
    const buf = Buffer.from('a,"b\nc,d\ne,"f', 'utf8');
    const { records, lineFeeds } = tokenizeToStrings(buf, ',');
    expect(records.map((r) => [r.line, r.problem, r.fields])).toEqual([
      [0, BROKEN_QUOTE, ['a', '']],
      [1, RECORD_OK, ['c', 'd']],
      [2, BROKEN_QUOTE, ['e', '']],
    ]);
    expect(lineFeeds).toBe(2);
  });

  it('judges a quoted field longer than the limit broken at its first line', () => {
    const text = 'x,"12345\n6789",y\nz,"1234\n5678",w\n';
    const limit = (n: number) => {
      const { records } = tokenizeToStrings(Buffer.from(text), ',', undefined, undefined, n);
      return records.map((r) => [r.line, r.problem, r.fields]);
    };
    // The first field holds 10 bytes, the second 9.
    expect(limit(10)).toEqual([
      [0, RECORD_OK, ['x', '12345\n6789', 'y']],
      [2, RECORD_OK, ['z', '1234\n5678', 'w']],
    ]);
    expect(limit(9)).toEqual([
      [0, BROKEN_QUOTE, ['x', '']],
      [1, RECORD_OK, ['6789"', 'y']],
      [2, RECORD_OK, ['z', '1234\n5678', 'w']],
    ]);
  });

  it('judges a quote that closes into text on a later line broken at its first line (stray quotes do not pair)', () => {
    const buf = Buffer.from('a,"stray\nb,c\n"stray again,d\ne,f\n', 'utf8');
    const { records } = tokenizeToStrings(buf, ',');
    expect(records.map((r) => [r.line, r.problem, r.fields])).toEqual([
      [0, BROKEN_QUOTE, ['a', '']],
      [1, RECORD_OK, ['b', 'c']],
      [2, UNTERMINATED_QUOTE, ['']],
      [3, RECORD_OK, ['e', 'f']],
    ]);
  });

  it('reports text after a closing quote and resumes at the next line', () => {
    const buf = Buffer.from('"a"b,c\nd,e\n"x" ,y\r\nf\n', 'utf8');
    const { records, lineFeeds } = tokenizeToStrings(buf, ',');
    expect(records.map((r) => [r.line, r.problem])).toEqual([
      [0, TEXT_AFTER_QUOTE],
      [1, RECORD_OK],
      [2, TEXT_AFTER_QUOTE],
      [3, RECORD_OK],
    ]);
    expect(records[1].fields).toEqual(['d', 'e']);
    expect(records[3].fields).toEqual(['f']);
    expect(lineFeeds).toBe(4);
  });

  it('never throws on random bytes, and always accounts for every line feed', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 2000; i++) {
      const len = rng.int(0, 80);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++)
        buf[j] = rng.pick([0x22, 0x22, 0x2c, 0x0a, 0x0d, 0x61, 0xc3, 0xff, rng.int(0, 255)]);
      const { records, lineFeeds } = tokenizeToStrings(buf, ',');
      expect(lineFeeds).toBe(countLf(buf));
      for (const r of records)
        expect([RECORD_OK, UNTERMINATED_QUOTE, TEXT_AFTER_QUOTE, BROKEN_QUOTE]).toContain(r.problem);
    }
  });
});
