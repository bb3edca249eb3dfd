/** The progress line people watch: every field the issue asks for, with sane units. */
import { describe, expect, it } from 'vitest';
import { fmtRate, progressLine } from '../src/ui.js';

describe('progress line', () => {
  it('shows chunks, bytes, rows/s, MB/s, workers, retries and an ETA', () => {
    const line = progressLine({
      runId: 1,
      elapsedMs: 2_000,
      rows: 2_500_000,
      rejected: 0,
      bytesDone: 300 * 1024 * 1024,
      bytesTotal: 600 * 1024 * 1024,
      chunksDone: 75,
      chunksTotal: 150,
      chunksExact: false,
      workers: 2,
      retries: 1,
    });
    expect(line).toBe(
      '75/~150 chunks | 300/600 MiB | 1.25M rows/s | 150 MB/s | 2 worker(s) | 1 retries | ETA 2s',
    );
  });

  it('has no ETA before the first chunk, and an exact total once the file is cut', () => {
    const line = progressLine({
      runId: 1,
      elapsedMs: 100,
      rows: 0,
      rejected: 0,
      bytesDone: 0,
      bytesTotal: 1024,
      chunksDone: 0,
      chunksTotal: 3,
      chunksExact: true,
      workers: 0,
      retries: 0,
    });
    expect(line).toMatch(/^0\/3 chunks .* ETA --$/);
  });

  it('formats rates compactly', () => {
    expect([fmtRate(950), fmtRate(12_345), fmtRate(2_700_000)]).toEqual(['950', '12.3k', '2.70M']);
  });
});
