/**
 * The coordinator's file and lock helpers: opening the input, the layout sample, whether a lock
 * owner is a dead process on this host, and the line number at a byte offset (error messages).
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import { errorMessage, InputError } from '../errors.js';

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** True when a lock owner ("host:pid:nonce") is a process on this host that no longer exists. */
export function ownerIsDead(owner: string | null): boolean {
  if (owner === null) return true;
  const [host, pid] = owner.split(':');
  if (host !== os.hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Reads the first bytes of the file for layout detection. */
export async function readSample(
  file: FileHandle,
  size: number,
): Promise<{ bytes: Buffer; complete: boolean }> {
  const want = Math.min(size, 256 * 1024);
  const bytes = Buffer.alloc(want);
  let have = 0;
  while (have < want) {
    const { bytesRead } = await file.read(bytes, have, want - have, have);
    if (bytesRead === 0) break;
    have += bytesRead;
  }
  return { bytes: bytes.subarray(0, have), complete: have >= size };
}

export async function openInput(
  file: string,
): Promise<{ handle: FileHandle; size: number; mtimeMs: number }> {
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
  return { handle, size: st.size, mtimeMs: Math.round(st.mtimeMs) };
}

/** File line number at a byte offset (a record start), counting line feeds. Failure path only. */
export async function lineOf(file: FileHandle, offset: number): Promise<number> {
  const block = Buffer.allocUnsafe(1 << 20);
  let lines = 1;
  for (let pos = 0; pos < offset; ) {
    const { bytesRead } = await file.read(block, 0, Math.min(block.length, offset - pos), pos);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i++) if (block[i] === 0x0a) lines++;
    pos += bytesRead;
  }
  return lines;
}
