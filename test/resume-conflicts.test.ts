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

  it("--join: none given keeps the run's tables; another set (or order, or key) is a conflict", () => {
    const stores = { file: '/d/stores.csv', factColumn: 'store_id', keyColumn: 'store_id', name: 'stores' };
    const team = { file: '/d/team.csv', factColumn: 'sales_person_id', keyColumn: 'id', name: 'team' };
    const stored = { chunkSize: 65536, columns: { maxKeys: 500 }, joins: [{ ...stores, fingerprint: 'ab' }] };
    const base = { chunkSize: 65536, chunkSizeGiven: false, columns: { maxKeys: 1_000_000 } };
    expect(resumeConflicts(stored, base)).toEqual([]);
    expect(resumeConflicts(stored, { ...base, joins: [stores] })).toEqual([]);
    expect(resumeConflicts(stored, { ...base, joins: [stores, team] })).toEqual([
      '--join /d/stores.csv:store_id, /d/team.csv:sales_person_id=id (the run has /d/stores.csv:store_id)',
    ]);
    expect(resumeConflicts(stored, { ...base, joins: [{ ...stores, keyColumn: 'id' }] })).toEqual([
      '--join /d/stores.csv:store_id=id (the run has /d/stores.csv:store_id)',
    ]);
    expect(resumeConflicts({ chunkSize: 65536, columns: {} }, { ...base, joins: [team] })).toEqual([
      '--join /d/team.csv:sales_person_id=id (the run has none)',
    ]);
  });

  it("--max-field-bytes: the default is not a conflict; another value than the run's is", () => {
    const stored = { chunkSize: 65536, columns: { maxKeys: 500, maxFieldBytes: 4096 } };
    const base = { chunkSize: 65536, chunkSizeGiven: false };
    const columns = (maxFieldBytes: number) => ({ maxKeys: 1_000_000, maxFieldBytes });
    expect(resumeConflicts(stored, { ...base, columns: columns(1024 * 1024) })).toEqual([]);
    expect(resumeConflicts(stored, { ...base, columns: columns(4096) })).toEqual([]);
    expect(resumeConflicts(stored, { ...base, columns: columns(8192) })).toEqual([
      '--max-field-bytes 8192 (the run has 4096)',
    ]);
    // A run stored without the option (older versions): as with --max-keys, nothing to compare.
    expect(resumeConflicts({ chunkSize: 65536, columns: {} }, { ...base, columns: columns(8192) })).toEqual(
      [],
    );
  });
});
