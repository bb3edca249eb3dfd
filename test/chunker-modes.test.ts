/** Chunker modes: fast last-LF cuts, the window-only read for the range transport, careful restart. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Chunk, Chunker } from '../src/coordinator/chunker.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-chunker-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function all(file: string, opts: Partial<ConstructorParameters<typeof Chunker>[1]>): Promise<Chunk[]> {
  const handle = await fs.promises.open(file, 'r');
  const size = (await handle.stat()).size;
  const chunker = new Chunker(handle, {
    dataStart: 0,
    fileSize: size,
    chunkSize: 1000,
    maxChunk: 1 << 20,
    ...opts,
  });
  const out: Chunk[] = [];
  for (let c = await chunker.next(); c !== null; c = await chunker.next())
    out.push({ ...c, data: Buffer.from(c.data) });
  await handle.close();
  return out;
}

function lines(n: number, width: (i: number) => number): string {
  return Array.from({ length: n }, (_, i) => `${i},${'x'.repeat(width(i))}\n`).join('');
}

describe('chunker modes', () => {
  it('window-only cuts (range transport) tile the file at line ends without reading chunk bytes', async () => {
    const file = path.join(dir, 'w.csv');
    const text = lines(20_000, (i) => i % 37);
    fs.writeFileSync(file, text);
    const chunks = await all(file, { careful: false, readData: false, chunkSize: 100_000 });
    const full = await all(file, { careful: false, readData: true, chunkSize: 100_000 });
    expect(chunks.map((c) => [c.byteStart, c.byteEnd])).toEqual(full.map((c) => [c.byteStart, c.byteEnd]));
    for (const c of chunks) {
      expect(c.data.length).toBe(0);
      expect(text[c.byteEnd - 1]).toBe('\n');
    }
    expect(chunks.at(-1)?.byteEnd).toBe(text.length);
  });

  it('falls back to a full read when a record is longer than the window', async () => {
    const file = path.join(dir, 'long.csv');
    const text = lines(10, (i) => (i === 3 ? 200_000 : 10));
    fs.writeFileSync(file, text);
    const chunks = await all(file, { careful: false, readData: false, chunkSize: 100_000 });
    expect(chunks.map((c) => c.byteEnd).at(-1)).toBe(text.length);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i].byteStart).toBe(chunks[i - 1].byteEnd);
    for (const c of chunks) expect(text[c.byteEnd - 1]).toBe('\n');
  });

  it('fast cuts may fall inside quotes (the workers catch it); careful cuts never do', async () => {
    const file = path.join(dir, 'q.csv');
    const text = Array.from({ length: 300 }, (_, i) => `${i},"a\nb\nc\nd"\n`).join('');
    fs.writeFileSync(file, text);
    const inQuotes = (end: number) => (text.slice(0, end).split('"').length - 1) % 2 === 1;
    const fast = await all(file, { careful: false, chunkSize: 64 });
    expect(fast.some((c) => inQuotes(c.byteEnd))).toBe(true);
    const careful = await all(file, { careful: true, chunkSize: 64 });
    expect(careful.some((c) => inQuotes(c.byteEnd))).toBe(false);
  });

  it('restartCareful starts again from the data start with new ids', async () => {
    const file = path.join(dir, 'r.csv');
    fs.writeFileSync(
      file,
      lines(1000, () => 5),
    );
    const handle = await fs.promises.open(file, 'r');
    const size = (await handle.stat()).size;
    const chunker = new Chunker(handle, {
      dataStart: 0,
      fileSize: size,
      chunkSize: 500,
      maxChunk: 1 << 20,
      careful: false,
    });
    const a = await chunker.next();
    const b = await chunker.next();
    chunker.restartCareful();
    const c = await chunker.next();
    expect([a?.chunkId, b?.chunkId, c?.chunkId]).toEqual([0, 1, 2]);
    expect(c?.byteStart).toBe(0);
    expect(chunker.careful).toBe(true);
    await handle.close();
  });
});
