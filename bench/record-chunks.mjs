// Record-aligned chunks of a CSV read into memory, so the benches that parse them time no file
// reads: each chunk ends at a line feed (the last one at the file's end).
import { readSync } from 'node:fs';

/** Chunks of about `chunkBytes` from `start` of the open file `fd`, at most `maxChunks` or until `maxBytes` is passed. */
export function recordChunks(
  fd,
  start,
  chunkBytes,
  { maxChunks = Number.POSITIVE_INFINITY, maxBytes = 0 } = {},
) {
  const chunks = [];
  let pos = start;
  while (chunks.length < maxChunks) {
    const buf = Buffer.allocUnsafe(chunkBytes);
    const n = readSync(fd, buf, 0, chunkBytes, pos);
    if (n === 0) break;
    let end = n;
    if (n === chunkBytes) end = buf.lastIndexOf(0x0a, n - 1) + 1;
    chunks.push(buf.subarray(0, end));
    pos += end;
    if (maxBytes > 0 && pos >= maxBytes) break;
  }
  return chunks;
}
