import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Chunk,
  Chunker,
  type ChunkerOptions,
  type ChunkRange,
  lastRecordCut,
} from '../src/coordinator/chunker.js';
import { InputError } from '../src/errors.js';
import { genDoc } from './helpers/csv-gen.js';
import { Rng } from './helpers/prng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-'));
const open: FileHandle[] = [];
afterAll(async () => {
  for (const f of open) await f.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const BOM = '\uFEFF';

/** A test file: bytes, where data starts and every record boundary in the data section. */
interface TestFile {
  name: string;
  path: string;
  bytes: Buffer;
  dataStart: number;
  /** Byte offsets just past each record's line end (the last one is the file size). */
  boundaries: number[];
}

let fileNo = 0;
function makeFile(
  name: string,
  header: string,
  records: string[],
  eol: string,
  finalEol: boolean,
  bom: boolean,
): TestFile {
  const head = Buffer.from((bom ? BOM : '') + header + eol, 'utf8');
  const parts: Buffer[] = [head];
  const boundaries: number[] = [];
  let at = head.length;
  records.forEach((r, i) => {
    const text = r + (i < records.length - 1 || finalEol ? eol : '');
    const b = Buffer.from(text, 'utf8');
    parts.push(b);
    at += b.length;
    boundaries.push(at);
  });
  const bytes = Buffer.concat(parts);
  const p = path.join(dir, `${fileNo++}-${name}.csv`);
  fs.writeFileSync(p, bytes);
  return { name, path: p, bytes, dataStart: head.length, boundaries };
}

const QUOTY = [
  'North America,"Widgets, large",10,"1,234.50"',
  '"Asia","say ""hi""",3,4.00',
  '"Europe","two\nlines",1,2.50',
  '"Europe","crlf\r\ninside, too",7,"9,999.99"',
  'Africa,plain,2,0.99',
  '"ends with quote """,x,5,1.00',
  '"",,,',
  'Oceania,"日本語, 😀",4,3.25',
];

function genRecords(seed: number, n: number): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  while (out.length < n) {
    for (const r of genDoc(rng, { delimiter: ',', eol: '\n', maxRecords: 5 }).records) out.push(r.raw);
  }
  return out.slice(0, n);
}

const FILES: TestFile[] = [
  makeFile('bom-crlf-quoted-no-final-eol', 'Region,Item,Units,Price', QUOTY, '\r\n', false, true),
  makeFile('lf-quoted-final-eol', 'Region,Item,Units,Price', QUOTY, '\n', true, false),
  makeFile('bom-lf-no-final-eol', 'a,b', ['1,2', '3,4', '"5\n6",7', '8,9'], '\n', false, true),
  makeFile('random-crlf', 'h1,h2,h3', genRecords(1, 150), '\r\n', true, false),
  makeFile('random-lf-no-final-eol', 'h1,h2,h3', genRecords(2, 150), '\n', false, true),
];

async function handle(f: TestFile): Promise<FileHandle> {
  const h = await fs.promises.open(f.path, 'r');
  open.push(h);
  return h;
}

function options(f: TestFile, extra: Partial<ChunkerOptions>): ChunkerOptions {
  return { dataStart: f.dataStart, fileSize: f.bytes.length, chunkSize: 64, maxChunk: 1 << 20, ...extra };
}

async function drain(chunker: Chunker): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for (;;) {
    const c = await chunker.next();
    if (c === null) return out;
    // Copy: a chunk's data must stay valid after the next call, but do not rely on it here.
    out.push({ ...c, data: Buffer.from(c.data) });
    if (out.length > 100_000) throw new Error('runaway chunker');
  }
}

function csv(bytes: Buffer): string[][] {
  return parse(bytes, {
    relax_column_count: true,
    bom: false,
    record_delimiter: ['\r\n', '\n'],
  }) as string[][];
}

describe('Chunker', () => {
  for (const f of FILES) {
    const sizes = [1, 2, 3, 7, 64, 1000, f.bytes.length];
    for (const chunkSize of sizes) {
      it(`${f.name}: chunk size ${chunkSize} cuts at record boundaries and covers the data exactly`, async () => {
        const chunker = new Chunker(await handle(f), options(f, { chunkSize }));
        const chunks = await drain(chunker);
        const data = f.bytes.subarray(f.dataStart);
        expect(chunks.length).toBeGreaterThan(0);
        expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
        expect(chunks.map((c) => c.chunkId)).toEqual(chunks.map((_, i) => i));
        expect(chunks[0].byteStart).toBe(f.dataStart);
        expect(chunks[chunks.length - 1].byteEnd).toBe(f.bytes.length);
        const boundaries = new Set(f.boundaries);
        const wholeRecords = csv(data);
        const chunkRecords: string[][] = [];
        for (let i = 0; i < chunks.length; i++) {
          const c = chunks[i];
          if (i > 0) expect(c.byteStart).toBe(chunks[i - 1].byteEnd);
          expect(c.byteEnd).toBeGreaterThan(c.byteStart);
          expect(c.data.length).toBe(c.byteEnd - c.byteStart);
          expect(c.data.equals(f.bytes.subarray(c.byteStart, c.byteEnd))).toBe(true);
          expect(boundaries.has(c.byteEnd), `cut at ${c.byteEnd}`).toBe(true);
          const recs = csv(c.data);
          // Not larger than asked, unless the first record alone is larger (the buffer then grows).
          if (c.data.length > chunkSize) {
            const firstBoundary = f.boundaries.find((b) => b > c.byteStart) as number;
            expect(firstBoundary - c.byteStart).toBeGreaterThan(chunkSize);
            expect(c.data.length).toBeLessThan(2 * (firstBoundary - c.byteStart) + chunkSize);
          }
          // Greedy: the next boundary would not have fitted.
          if (i < chunks.length - 1) {
            const nextBoundary = f.boundaries.find((b) => b > c.byteEnd) as number;
            expect(nextBoundary - c.byteStart).toBeGreaterThan(Math.max(chunkSize, c.data.length));
          }
          chunkRecords.push(...recs);
        }
        expect(chunkRecords).toEqual(wholeRecords);
        expect(wholeRecords).toHaveLength(f.boundaries.length);
        expect(chunker.finished).toBe(true);
        expect(chunker.position).toBe(f.bytes.length);
        expect(await chunker.next()).toBeNull();
        // read(range) returns the same bytes again.
        for (const c of chunks) {
          const again = await chunker.read({
            chunkId: c.chunkId,
            byteStart: c.byteStart,
            byteEnd: c.byteEnd,
          });
          expect(again.equals(c.data)).toBe(true);
        }
      });
    }
  }

  it('hands out nothing for a header-only file', async () => {
    const f = makeFile('header-only', 'a,b', [], '\n', true, false);
    const chunker = new Chunker(await handle(f), options(f, {}));
    expect(await chunker.next()).toBeNull();
    expect(chunker.finished).toBe(true);
  });

  it('starts ids at firstId', async () => {
    const f = FILES[0];
    const chunks = await drain(new Chunker(await handle(f), options(f, { chunkSize: 64, firstId: 10 })));
    expect(chunks.map((c) => c.chunkId)).toEqual(chunks.map((_, i) => 10 + i));
  });

  describe('resume: skip and idAt', () => {
    const f = FILES[3];
    const chunkSize = 200;

    async function original(): Promise<Chunk[]> {
      return drain(new Chunker(await handle(f), options(f, { chunkSize })));
    }

    const plans: [string, (n: number) => number[]][] = [
      ['a middle run of chunks', () => [2, 3, 4]],
      ['the first and last chunks', (n) => [0, n - 1]],
      ['every other chunk', (n) => Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 1)],
      ['all chunks', (n) => Array.from({ length: n }, (_, i) => i)],
    ];
    for (const [what, pick] of plans) {
      it(`skips ${what} and reuses the ids of the rest`, async () => {
        const all = await original();
        expect(all.length).toBeGreaterThan(6);
        const done = new Set(pick(all.length));
        const skip: ChunkRange[] = all
          .filter((c) => done.has(c.chunkId))
          .map(({ chunkId, byteStart, byteEnd }) => ({ chunkId, byteStart, byteEnd }))
          .reverse(); // unsorted on purpose
        const idByStart = new Map(all.map((c) => [c.byteStart, c.chunkId]));
        const chunker = new Chunker(
          await handle(f),
          options(f, { chunkSize, skip, idAt: (s) => idByStart.get(s), firstId: all.length }),
        );
        const again = await drain(chunker);
        const strip = (c: Chunk) => ({ chunkId: c.chunkId, byteStart: c.byteStart, byteEnd: c.byteEnd });
        expect(again.map(strip)).toEqual(all.filter((c) => !done.has(c.chunkId)).map(strip));
        for (const c of again) expect(c.data.equals(f.bytes.subarray(c.byteStart, c.byteEnd))).toBe(true);
        expect(chunker.finished).toBe(true);
      });
    }

    it('never crosses into a finished range, and numbers new chunks from firstId', async () => {
      // A finished range that does not line up with this chunk size's own cuts.
      const b = f.boundaries;
      const skip: ChunkRange[] = [{ chunkId: 0, byteStart: b[10], byteEnd: b[20] }];
      const chunks = await drain(
        new Chunker(
          await handle(f),
          options(f, { chunkSize: 1000, skip, idAt: () => undefined, firstId: 5 }),
        ),
      );
      expect(chunks.map((c) => c.chunkId)).toEqual(chunks.map((_, i) => 5 + i));
      const covered = Buffer.concat(chunks.map((c) => c.data));
      const expected = Buffer.concat([f.bytes.subarray(f.dataStart, b[10]), f.bytes.subarray(b[20])]);
      expect(covered.equals(expected)).toBe(true);
      for (const c of chunks) {
        expect(c.byteStart >= b[10] && c.byteStart < b[20]).toBe(false);
        expect(c.byteStart < b[10] && c.byteEnd > b[10]).toBe(false);
      }
      expect(chunks.some((c) => c.byteEnd === b[10])).toBe(true);
      expect(chunks.some((c) => c.byteStart === b[20])).toBe(true);
    });
  });

  describe('records longer than maxChunk', () => {
    it('throws E_RECORD_TOO_LONG for a record longer than maxChunk', async () => {
      const long = `"${'x'.repeat(100)}",1`;
      const f = makeFile('long-record', 'a,b', ['1,2', long, '3,4'], '\n', true, false);
      const chunker = new Chunker(await handle(f), options(f, { chunkSize: 8, maxChunk: 64 }));
      const first = await chunker.next();
      expect(first?.data.toString()).toBe('1,2\n');
      let caught: unknown;
      try {
        await chunker.next();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InputError);
      expect((caught as InputError).code).toBe('E_RECORD_TOO_LONG');
    });

    it('throws E_RECORD_TOO_LONG for an unclosed quote running past maxChunk when the field limit is larger', async () => {
      const f = makeFile(
        'unclosed',
        'a,b',
        ['1,"open', ...Array.from({ length: 50 }, (_, i) => `${i},row`)],
        '\n',
        true,
        false,
      );
      const chunker = new Chunker(await handle(f), options(f, { chunkSize: 16, maxChunk: 128 }));
      await expect(chunker.next()).rejects.toMatchObject({ code: 'E_RECORD_TOO_LONG' });
    });

    it('a quote that never closes within --max-field-bytes ends its record at its own line: no E_RECORD_TOO_LONG', async () => {
      const rows = [
        '1,"open',
        ...Array.from({ length: 50 }, (_, i) => `${i},row`),
        '9,"stray in the last line',
      ];
      rows[25] = '"stray at a chunk start,x';
      const f = makeFile('stray-limited', 'a,b', rows, '\n', true, false);
      for (const chunkSize of [8, 16, 40, 1000]) {
        const chunks = await drain(
          new Chunker(await handle(f), options(f, { chunkSize, maxChunk: 128, maxFieldBytes: 32 })),
        );
        expect(Buffer.concat(chunks.map((c) => c.data)).equals(f.bytes.subarray(f.dataStart))).toBe(true);
        // Every cut is a line end (here every line is its own record).
        for (const c of chunks) expect(f.boundaries).toContain(c.byteEnd);
      }
    });

    it('accepts a record of exactly maxChunk bytes', async () => {
      const rec = `"${'y'.repeat(58)}",1`; // 62 bytes + LF = 63
      const f = makeFile('exact', 'a,b', [rec, '2,3'], '\n', true, false);
      const chunks = await drain(new Chunker(await handle(f), options(f, { chunkSize: 4, maxChunk: 63 })));
      expect(chunks.map((c) => c.data.toString())).toEqual([`${rec}\n`, '2,3\n']);
    });

    it('hands out an unclosed quote at the end of the file as the last chunk (the worker rejects it)', async () => {
      const f = makeFile('unclosed-tail', 'a,b', ['1,2', '3,"open and', 'never closed'], '\n', false, false);
      const chunks = await drain(new Chunker(await handle(f), options(f, { chunkSize: 4, maxChunk: 1024 })));
      expect(Buffer.concat(chunks.map((c) => c.data)).equals(f.bytes.subarray(f.dataStart))).toBe(true);
    });
  });

  it('read() of a range past the end of the file throws InputError', async () => {
    const f = FILES[2];
    const chunker = new Chunker(await handle(f), options(f, {}));
    await expect(
      chunker.read({ chunkId: 0, byteStart: f.bytes.length - 2, byteEnd: f.bytes.length + 10 }),
    ).rejects.toBeInstanceOf(InputError);
  });
});

describe('lastRecordCut', () => {
  const cut = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return lastRecordCut(b, b.length);
  };

  it('cuts just past the last line feed outside quotes', () => {
    expect(cut('')).toBe(0);
    expect(cut('abc')).toBe(0);
    expect(cut('a\n')).toBe(2);
    expect(cut('a\nb')).toBe(2);
    expect(cut('a\r\nb\r\nc')).toBe(6);
    expect(cut('a\n"b\nc')).toBe(2);
    expect(cut('a\n"b\nc"\n')).toBe(8);
    expect(cut('"x""\n""y"\nz')).toBe(10);
    expect(cut('"\n"')).toBe(0);
  });

  it('reads only buf[0, n) of a view', () => {
    const backing = Buffer.from('zz1,2\n3,4\n5', 'utf8');
    const view = backing.subarray(2);
    expect(lastRecordCut(view, 4)).toBe(4);
    expect(lastRecordCut(view, 3)).toBe(0);
    expect(lastRecordCut(view, view.length)).toBe(8);
    expect(lastRecordCut(view, 0)).toBe(0);
  });

  it('matches the known record boundaries of random documents at every prefix', () => {
    const rng = new Rng(31);
    for (let doc = 0; doc < 200; doc++) {
      const g = genDoc(rng, { delimiter: ',', eol: rng.pick(['\n', '\r\n']) });
      const bytes = Buffer.from(g.text, 'utf8');
      // Boundaries: offsets just past each record's line end.
      const ends: number[] = [];
      let at = 0;
      for (const r of g.records) {
        at += Buffer.byteLength(r.raw) + g.eol.length;
        if (at <= bytes.length) ends.push(at);
      }
      for (let n = 0; n <= bytes.length; n++) {
        let want = 0;
        for (const e of ends) if (e <= n) want = e;
        const got = lastRecordCut(bytes, n);
        if (got !== want) expect({ text: g.text, n, got }).toEqual({ text: g.text, n, got: want });
      }
    }
  });
});
