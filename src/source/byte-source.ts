/**
 * Where the CSV's bytes come from: a local file or an HTTP(S) URL read with Range requests. Both
 * read at an offset like a FileHandle, and both carry an identity (size, mtime and a tag: a
 * content fingerprint for files, ETag or Last-Modified for URLs) that workers check before they
 * read a byte range, so a task never reads a different file than the coordinator cut.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { errorMessage, InputError } from '../errors.js';
import { fingerprint } from './fingerprint.js';
import { openHttpSource } from './http-source.js';

export interface SourceIdentity {
  size: number;
  /** Milliseconds; 0 when the server gives no Last-Modified. */
  mtimeMs: number;
  /** `fp1:<sha256>` for a file, `etag:<ETag>` or `lm:<Last-Modified>` for a URL. */
  tag: string;
}

/** The slice of FileHandle the coordinator and chunker read through. */
export interface ReadAt {
  read(buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export interface ByteSource extends ReadAt {
  /** The path or URL, for messages. */
  readonly name: string;
  readonly identity: SourceIdentity;
  close(): Promise<void>;
}

export function isUrl(name: string): boolean {
  return /^https?:\/\//i.test(name);
}

export function openSource(name: string): Promise<ByteSource> {
  return isUrl(name) ? openHttpSource(name) : openFileSource(name);
}

/** A second or coarser mtime (network file systems): compared at whole seconds. */
export function sameIdentity(a: SourceIdentity, b: SourceIdentity): boolean {
  return (
    a.size === b.size && a.tag === b.tag && Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000)
  );
}

/** How two identities differ, in words. */
export function identityDiff(mine: SourceIdentity, theirs: SourceIdentity): string {
  const d: string[] = [];
  if (mine.size !== theirs.size) d.push(`size ${mine.size} ≠ ${theirs.size}`);
  if (Math.floor(mine.mtimeMs / 1000) !== Math.floor(theirs.mtimeMs / 1000))
    d.push(`mtime ${new Date(mine.mtimeMs).toISOString()} ≠ ${new Date(theirs.mtimeMs).toISOString()}`);
  if (mine.tag !== theirs.tag) d.push(`content ${mine.tag.slice(0, 20)}… ≠ ${theirs.tag.slice(0, 20)}…`);
  return d.join(', ');
}

async function readFully(handle: FileHandle, buf: Buffer, position: number): Promise<number> {
  let have = 0;
  while (have < buf.length) {
    const { bytesRead } = await handle.read(buf, have, buf.length - have, position + have);
    if (bytesRead === 0) break;
    have += bytesRead;
  }
  return have;
}

export async function openFileSource(file: string): Promise<ByteSource> {
  let handle: FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    throw new InputError(`cannot read ${file}: ${why}`);
  }
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new InputError(`cannot read ${file}: not a regular file`);
  }
  const tag = await fingerprint(st.size, (buf, at) => readFully(handle, buf, at));
  return {
    name: file,
    identity: { size: st.size, mtimeMs: Math.round(st.mtimeMs), tag },
    read: (buf, offset, length, position) => handle.read(buf, offset, length, position),
    close: () => handle.close(),
  };
}
