/**
 * The bytes of the coordinator's spill: each run's keyed-cell blocks appended to one file beside
 * the database (`<db>-spill-<run>`), while `cell_runs` holds each block's offset, length and CRC-32
 * in the chunk's own transaction. A block counts only through its row, so bytes appended for a
 * result whose transaction failed are never read. The file is written without fsync (as SQLite's
 * WAL is with synchronous=NORMAL): after a machine crash, --resume checks every done chunk's CRCs
 * and counts again the chunks whose bytes did not survive (db/cell-runs.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

export interface SpilledBlock {
  off: number;
  len: number;
  crc: number;
}

export class SpillFile {
  private fd: number | null = null;
  private size = 0;

  constructor(readonly path: string) {}

  /**
   * The spill of run `runId` of the database at `db`; for `:memory:`, a temporary file private to
   * the connection (`token`).
   */
  static pathFor(db: string, runId: number, token: string): string {
    if (db === ':memory:' || db === '')
      return path.join(os.tmpdir(), `salesgrid-spill-${process.pid}-${token}-${runId}`);
    return `${db}-spill-${runId}`;
  }

  private open(): number {
    if (this.fd === null) {
      this.fd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      this.size = fs.fstatSync(this.fd).size;
    }
    return this.fd;
  }

  /** Appends blocks after everything written so far (also after bytes no row refers to). */
  append(blocks: Uint8Array[]): SpilledBlock[] {
    const fd = this.open();
    const out: SpilledBlock[] = [];
    let at = this.size;
    for (const b of blocks) {
      out.push({ off: at, len: b.length, crc: zlib.crc32(b) });
      at += b.length;
    }
    let done = 0;
    const total = at - this.size;
    // writev may write less than asked: go on from where it stopped.
    let list = blocks;
    while (done < total) {
      const n = fs.writevSync(fd, list, this.size + done);
      done += n;
      if (done < total) list = rest(blocks, done);
    }
    this.size = at;
    return out;
  }

  /** A block's bytes in a fresh buffer (aligned, the caller's to keep). */
  read(off: number, len: number): Uint8Array {
    const fd = this.open();
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(fd, buf, got, len - got, off + got);
      if (n === 0)
        throw new Error(`spill ${this.path} ends at ${off + got}, before the block at ${off} ends`);
      got += n;
    }
    return buf;
  }

  /** Whether the block at `b` is there with its CRC (a check after a crash). */
  holds(b: SpilledBlock): boolean {
    let bytes: Uint8Array;
    try {
      bytes = this.read(b.off, b.len);
    } catch {
      return false;
    }
    return zlib.crc32(bytes) === b.crc;
  }

  /** Forgets every byte (no row may refer to them any more). */
  truncate(): void {
    const fd = this.open();
    fs.ftruncateSync(fd, 0);
    this.size = 0;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /** Closes and deletes the file. */
  remove(): void {
    this.close();
    fs.rmSync(this.path, { force: true });
  }
}

/** The buffers of `blocks` after their first `skip` bytes. */
function rest(blocks: Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of blocks) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
