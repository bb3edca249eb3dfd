/**
 * A worker's reads for byte-range tasks. It reads only the source it was started for
 * (`--accept-ranges`, a file or URL), whatever path the coordinator names, and only after that
 * source's identity (size, mtime, content fingerprint or ETag) matches the one the task carries.
 */
import fs from 'node:fs';
import { SalesgridError } from '../errors.js';
import type { Task } from '../protocol/messages.js';
import {
  type ByteSource,
  identityDiff,
  isUrl,
  openSource,
  type SourceIdentity,
  sameIdentity,
} from '../source/byte-source.js';

type TaskRange = NonNullable<Task['range']>;

export class RangeReader {
  readonly accepted: string | null;
  private source: ByteSource | null = null;
  /** The file's stat when `source` was opened: a change re-opens it and re-takes the fingerprint. */
  private opened: { ino: number; size: number; mtimeMs: number } | null = null;
  /** Reused: chunks are parsed one at a time and nothing keeps a view past the parse. */
  private buffer = Buffer.alloc(0);

  constructor(accepted: string | null) {
    this.accepted = accepted;
  }

  async read(range: TaskRange): Promise<Buffer> {
    if (this.accepted === null) {
      throw new SalesgridError(
        'E_RANGE_REFUSED',
        `this worker reads no file for the coordinator (asked for ${range.path}); start it with --accept-ranges FILE`,
      );
    }
    const source = await this.current();
    const theirs: SourceIdentity = { size: range.size, mtimeMs: range.mtimeMs, tag: range.tag };
    if (!sameIdentity(source.identity, theirs)) {
      const diff = identityDiff(source.identity, theirs);
      if (isUrl(this.accepted) && this.accepted === range.path) {
        throw new SalesgridError('E_SOURCE_CHANGED', `${range.path} changed during the run (${diff})`, {
          exitCode: 2,
        });
      }
      throw new SalesgridError(
        'E_SOURCE_MISMATCH',
        `${this.accepted} is not the coordinator's ${range.path} (${diff}; a different copy, or the file changed since the run began): this worker refuses its byte ranges`,
        { exitCode: 2 },
      );
    }
    const size = range.end - range.start;
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(Math.max(size, this.buffer.length * 2));
    const buf = this.buffer.subarray(0, size);
    let have = 0;
    while (have < size) {
      const { bytesRead } = await source.read(buf, have, size - have, range.start + have);
      if (bytesRead === 0) throw new SalesgridError('E_INPUT', `${this.accepted} is shorter than expected`);
      have += bytesRead;
    }
    return buf;
  }

  private async current(): Promise<ByteSource> {
    const name = this.accepted as string;
    if (isUrl(name)) {
      if (this.source === null) this.source = await openSource(name);
      return this.source;
    }
    const st = await fs.promises.stat(name).catch(() => null);
    if (st === null) throw new SalesgridError('E_INPUT', `cannot read ${name}`);
    const now = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
    const o = this.opened;
    if (
      this.source === null ||
      o === null ||
      o.ino !== now.ino ||
      o.size !== now.size ||
      o.mtimeMs !== now.mtimeMs
    ) {
      await this.source?.close();
      this.source = null;
      this.source = await openSource(name);
      this.opened = now;
    }
    return this.source;
  }
}
