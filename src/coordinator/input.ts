/**
 * The coordinator's file and lock helpers: opening the input (a file or a URL, see byte-source.ts), the layout sample, whether a lock
 * owner is a dead process on this host, and the line number at a byte offset (error messages).
 */
import os from 'node:os';
import { type ByteSource, openSource, type ReadAt } from '../source/byte-source.js';

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
export async function readSample(file: ReadAt, size: number): Promise<{ bytes: Buffer; complete: boolean }> {
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

/** Opens the CSV, a file or an http(s):// URL; its identity goes into byte-range tasks. */
export async function openInput(
  file: string,
): Promise<{ handle: ByteSource; size: number; mtimeMs: number }> {
  const handle = await openSource(file);
  return { handle, size: handle.identity.size, mtimeMs: handle.identity.mtimeMs };
}

/** File line number at a byte offset (a record start), counting line feeds. Failure path only. */
export async function lineOf(file: ReadAt, offset: number): Promise<number> {
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
