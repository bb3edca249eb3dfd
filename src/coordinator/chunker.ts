/**
 * Cuts a file into record-aligned byte chunks of about `chunkSize`, streaming with bounded memory.
 * A cut is a record end. In careful mode records are followed from the chunk's start (always a
 * record boundary) under the quote rule of quote-limit.ts, which costs a pass over every byte;
 * blocks with no quote at all skip it. In fast mode (no line breaks inside quotes seen so far)
 * the cut is the last LF, found natively, and the workers verify it: a chunk that ends inside a
 * quoted field proves a cut wrong, and the coordinator starts over in careful mode.
 */
import { InputError } from '../errors.js';
import {
  brokenLineEnd,
  DEFAULT_MAX_FIELD_BYTES,
  judgeQuote,
  QUOTE_CLOSED,
  QUOTE_UNDECIDED,
  QuoteScan,
} from '../quote-limit.js';
import type { ReadAt } from '../source/byte-source.js';

import type { ChunkRange } from './lease-table.js';

export type { ChunkRange } from './lease-table.js';

export interface Chunk extends ChunkRange {
  data: Buffer;
}

const LF = 0x0a;
const QUOTE = 0x22;
const WINDOW = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Offset just past the last record end in buf[0, n) (which starts at a record boundary), or 0 if
 * there is none. Pure. With `careful` false, quotes are assumed to hold no line breaks: the last
 * LF. Careful cuts follow the tokenizer's own rules: a quote opens a quoted field only at a
 * field's start (elsewhere it is text), and quote-limit.ts judges each quoted field, so a broken
 * quote ends its record at its own line's end, as a worker ends it. A quote the bytes cannot yet
 * judge keeps the cut before its record.
 */
export function lastRecordCut(
  buf: Uint8Array,
  n: number,
  careful = true,
  delim = 0x2c,
  limit = DEFAULT_MAX_FIELD_BYTES,
): number {
  if (n === 0) return 0;
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, n);
  if (!careful || bytes.indexOf(QUOTE) < 0) return bytes.lastIndexOf(LF) + 1;
  const view = new DataView(buf.buffer, buf.byteOffset, n);
  const scan = new QuoteScan();
  let state = START;
  let cut = 0;
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (state === START && c === QUOTE) {
      const verdict = judgeQuote(buf, view, i, n, delim, limit, false, scan);
      if (verdict === QUOTE_UNDECIDED) return cut;
      if (verdict === QUOTE_CLOSED) {
        // The rule guarantees a delimiter, CR LF or LF next.
        i = scan.close;
        state = PLAIN;
        continue;
      }
      const lf = brokenLineEnd(buf, i, n, scan);
      if (lf < 0) return cut;
      cut = lf + 1;
      i = lf;
      continue;
    }
    if (c === delim) state = START;
    else if (c === LF) {
      state = START;
      cut = i + 1;
    } else state = PLAIN;
  }
  return cut;
}

const START = 0;
const PLAIN = 1;

export interface ChunkerOptions {
  dataStart: number;
  fileSize: number;
  chunkSize: number;
  /** Largest chunk allowed when one record is longer than chunkSize. */
  maxChunk: number;
  /** Ranges already finished (resume): skipped without reading. Sorted or not. */
  skip?: ChunkRange[];
  /** Id for chunks at a byte offset that had an id before (resume). */
  idAt?: (byteStart: number) => number | undefined;
  firstId?: number;
  /** Quote-parity cuts (default) or last-LF cuts verified by the workers. */
  careful?: boolean;
  /** False when chunks travel as byte ranges: fast cuts then read only a window near each cut. */
  readData?: boolean;
  /** Field delimiter byte, for careful cuts (default `,`). */
  delimiter?: number;
  /** The quoted-field limit of quote-limit.ts, for careful cuts (default 1 MiB). */
  maxFieldBytes?: number;
}

export class Chunker {
  private readonly file: ReadAt;
  private readonly opts: ChunkerOptions;
  private pos: number;
  private nextId: number;
  private skipStarts: Map<number, number>;
  private skipSorted: number[];
  private carefulCuts: boolean;
  /** Ids from the resume map apply to the cuts they were made for; after a careful restart, none do. */
  private reuseIds = true;
  /** Bumped by `restart`, so a read in flight across a restart is discarded. */
  private epoch = 0;
  /** Bytes read past the last cut, carried into the next chunk. */
  private carry: Buffer | null = null;
  private readonly pool: Buffer[] = [];
  private readonly owned = new WeakMap<ArrayBufferLike, Buffer>();

  constructor(file: ReadAt, opts: ChunkerOptions) {
    this.file = file;
    this.opts = opts;
    this.pos = opts.dataStart;
    this.nextId = opts.firstId ?? 0;
    this.skipStarts = new Map((opts.skip ?? []).map((r) => [r.byteStart, r.byteEnd]));
    this.skipSorted = [...this.skipStarts.keys()].sort((a, b) => a - b);
    this.carefulCuts = opts.careful ?? true;
  }

  /** The id the next new chunk will get. */
  get nextChunkId(): number {
    return this.nextId;
  }

  get careful(): boolean {
    return this.carefulCuts;
  }

  /** Starts over from the first data byte in careful mode, with fresh chunk ids. */
  restartCareful(): void {
    this.restart();
    this.carefulCuts = true;
  }

  /** Starts over from the first data byte in the same mode, with fresh chunk ids. */
  restart(): void {
    this.epoch++;
    this.reuseIds = false;
    this.pos = this.opts.dataStart;
    this.carry = null;
    this.skipStarts = new Map();
    this.skipSorted = [];
  }

  private idFor(start: number): number {
    return (this.reuseIds ? this.opts.idAt?.(start) : undefined) ?? this.nextId++;
  }

  /** Bytes of the data section handed out or skipped so far. */
  get position(): number {
    return this.pos;
  }

  get finished(): boolean {
    this.skipDone();
    return this.pos >= this.opts.fileSize;
  }

  private skipDone(): void {
    for (;;) {
      const end = this.skipStarts.get(this.pos);
      if (end === undefined) return;
      this.pos = end;
      this.carry = null;
    }
  }

  /** The next finished range's start after `pos`, which a new chunk must not cross. */
  private limitAfter(pos: number): number {
    for (const s of this.skipSorted) if (s > pos) return s;
    return this.opts.fileSize;
  }

  /** The next chunk, or null at the end of the file. */
  async next(): Promise<Chunk | null> {
    const epoch = this.epoch;
    const chunk = await this.cut();
    if (epoch === this.epoch) return chunk;
    if (chunk !== null) this.release(chunk.data);
    return this.next();
  }

  private async cut(): Promise<Chunk | null> {
    const epoch = this.epoch;
    this.skipDone();
    const start = this.pos;
    const limit = this.limitAfter(start);
    if (start >= limit) return null;
    let size = Math.min(this.opts.chunkSize, limit - start);
    if (this.opts.readData === false && !this.carefulCuts) {
      const quick = await this.cutByWindow(start, size, limit, epoch);
      if (quick !== undefined) return quick;
    }
    for (;;) {
      const buf = this.take(size);
      let have = 0;
      if (this.carry !== null && this.carry.length <= size) {
        this.carry.copy(buf, 0);
        have = this.carry.length;
      }
      this.carry = null;
      while (have < size) {
        const { bytesRead } = await this.file.read(buf, have, size - have, start + have);
        if (bytesRead === 0) break;
        have += bytesRead;
      }
      if (have === 0) return null;
      const atLimit = start + have >= limit;
      if (epoch !== this.epoch) return null;
      const cut = atLimit
        ? have
        : lastRecordCut(buf, have, this.carefulCuts, this.opts.delimiter ?? 0x2c, this.opts.maxFieldBytes);
      if (cut > 0) {
        if (cut < have) this.carry = Buffer.from(buf.subarray(cut, have));
        this.pos = start + cut;
        const id = this.idFor(start);
        return { chunkId: id, byteStart: start, byteEnd: start + cut, data: buf.subarray(0, cut) };
      }
      if (size >= this.opts.maxChunk) {
        throw new InputError(
          `a record starting at byte ${start} is longer than ${this.opts.maxChunk} bytes (an unclosed quote?)`,
          'E_RECORD_TOO_LONG',
        );
      }
      this.carry = Buffer.from(buf.subarray(0, have));
      size = Math.min(size * 2, this.opts.maxChunk, limit - start);
    }
  }

  /**
   * Range transport with last-LF cuts needs no chunk bytes here: the cut is the last LF in a small
   * window before the target, so only that window is read. Undefined when the window holds no LF.
   */
  private async cutByWindow(
    start: number,
    size: number,
    limit: number,
    epoch: number,
  ): Promise<Chunk | null | undefined> {
    if (start + size >= limit) {
      this.pos = limit;
      this.carry = null;
      return {
        chunkId: this.idFor(start),
        byteStart: start,
        byteEnd: limit,
        data: EMPTY,
      };
    }
    const win = Math.min(WINDOW, size);
    const buf = this.take(win);
    let have = 0;
    while (have < win) {
      const { bytesRead } = await this.file.read(buf, have, win - have, start + size - win + have);
      if (bytesRead === 0) break;
      have += bytesRead;
    }
    if (epoch !== this.epoch) return null;
    const lf = have === win ? buf.lastIndexOf(LF, win - 1) : -1;
    this.release(buf);
    if (lf < 0) return undefined;
    const end = start + size - win + lf + 1;
    this.pos = end;
    this.carry = null;
    return { chunkId: this.idFor(start), byteStart: start, byteEnd: end, data: EMPTY };
  }

  /**
   * Hands a chunk's buffer back once nothing refers to it any more (sent, or not needed), so the
   * next chunk reuses it: fresh multi-MiB buffers cost page faults and GC on every chunk.
   */
  release(data: Buffer): void {
    const whole = this.owned.get(data.buffer);
    if (whole !== undefined && this.pool.length < 8 && !this.pool.includes(whole)) this.pool.push(whole);
  }

  private take(size: number): Buffer {
    const i = this.pool.findIndex((b) => b.length >= size);
    if (i >= 0) return this.pool.splice(i, 1)[0].subarray(0, size);
    const buf = Buffer.allocUnsafe(size);
    // Only buffers with an ArrayBuffer of their own are reused (small ones live in Node's shared slab).
    if (size >= 64 * 1024 && buf.byteOffset === 0 && buf.buffer.byteLength === size)
      this.owned.set(buf.buffer, buf);
    return buf;
  }

  /** Reads a chunk's bytes again (a retry). */
  async read(range: ChunkRange): Promise<Buffer> {
    const size = range.byteEnd - range.byteStart;
    const buf = Buffer.allocUnsafe(size);
    let have = 0;
    while (have < size) {
      const { bytesRead } = await this.file.read(buf, have, size - have, range.byteStart + have);
      if (bytesRead === 0)
        throw new InputError(`the file shrank while reading bytes ${range.byteStart}-${range.byteEnd}`);
      have += bytesRead;
    }
    return buf;
  }
}
