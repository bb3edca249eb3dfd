/**
 * A file's content fingerprint: SHA-256 over its size and a few blocks sampled evenly from first
 * to last byte. It tells another version of a file from the original at the cost of 64 KiB of
 * reads; an edit outside the sampled blocks is caught by size and mtime, not by this.
 */
import { createHash } from 'node:crypto';

export const FINGERPRINT_BLOCKS = 16;
export const FINGERPRINT_BLOCK_SIZE = 4096;

/** Where the sampled blocks start, in order. Pure. */
export function fingerprintOffsets(size: number): number[] {
  if (size <= FINGERPRINT_BLOCKS * FINGERPRINT_BLOCK_SIZE) return size === 0 ? [] : [0];
  const last = size - FINGERPRINT_BLOCK_SIZE;
  const out: number[] = [];
  for (let i = 0; i < FINGERPRINT_BLOCKS; i++) out.push(Math.floor((last * i) / (FINGERPRINT_BLOCKS - 1)));
  return out;
}

/** `readAt` fills `buf` from `position` and returns the bytes read (short only at the end). */
export async function fingerprint(
  size: number,
  readAt: (buf: Buffer, position: number) => Promise<number>,
): Promise<string> {
  const hash = createHash('sha256').update(`salesgrid-fp1 ${size}\n`);
  const whole = size <= FINGERPRINT_BLOCKS * FINGERPRINT_BLOCK_SIZE;
  const buf = Buffer.allocUnsafe(whole ? size : FINGERPRINT_BLOCK_SIZE);
  for (const at of fingerprintOffsets(size)) {
    const n = await readAt(buf, at);
    hash.update(buf.subarray(0, n));
  }
  return `fp1:${hash.digest('hex')}`;
}
