// Owns the byte writers the generators assemble rows with: numbers and cents written straight into
// a block at an offset (no per-row strings), and a block written whole to a file.

import type { FileHandle } from 'node:fs/promises';

const DOT = 46;

/** Integer cents as decimal text with exactly two decimals. */
export function formatCents(cents: number): string {
  const frac = cents % 100;
  return `${(cents - frac) / 100}.${frac < 10 ? '0' : ''}${frac}`;
}

export function copyBytes(buf: Buffer, pos: number, src: Buffer): number {
  for (let i = 0; i < src.length; i++) buf[pos + i] = src[i];
  return pos + src.length;
}

/** Writes a non-negative integer in decimal. */
export function writeUint(buf: Buffer, pos: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
  let p = pos + len;
  do {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + n - q * 10;
    n = q;
  } while (n > 0);
  return pos + len;
}

export function writeCents(buf: Buffer, pos: number, cents: number): number {
  const whole = Math.floor(cents / 100);
  const frac = cents - whole * 100;
  pos = writeUint(buf, pos, whole);
  buf[pos] = DOT;
  buf[pos + 1] = 48 + Math.floor(frac / 10);
  buf[pos + 2] = 48 + (frac % 10);
  return pos + 3;
}

export async function writeAll(file: FileHandle, buf: Buffer, length: number): Promise<void> {
  let offset = 0;
  while (offset < length) {
    const { bytesWritten } = await file.write(buf, offset, length - offset);
    offset += bytesWritten;
  }
}
