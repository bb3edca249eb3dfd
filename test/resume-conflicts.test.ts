/** `--resume` with flags that differ from the stored run: each one named; defaults are not conflicts. */
import { describe, expect, it } from 'vitest';
import { resumeConflicts } from '../src/coordinator/resume.js';

describe('resume conflicts', () => {
  it('names each flag that differs from the stored run; defaults and equal values are not conflicts', () => {
    const stored = { chunkSize: 65536, columns: { price: 'Unit Price', maxKeys: 500 } };
    const base = { chunkSize: 4 << 20, chunkSizeGiven: false, columns: { maxKeys: 1_000_000 } };
    expect(resumeConflicts(stored, base)).toEqual([]);
    expect(
      resumeConflicts(stored, { ...base, columns: { price: 'Unit Price', maxKeys: 1_000_000 } }),
    ).toEqual([]);
    expect(
      resumeConflicts(stored, {
        chunkSize: 1 << 20,
        chunkSizeGiven: true,
        columns: { price: 'Cost', dimensions: ['Country'], maxKeys: 7 },
      }),
    ).toEqual([
      '--price "Cost" (the run has "Unit Price")',
      '--dimension ["Country"] (the run has not given (detected))',
      '--max-keys 7 (the run has 500)',
      '--chunk-size 1048576 (the run has 65536)',
    ]);
  });
});
