/**
 * A result sent as parts (protocol/messages.ts encodeResultParts): keyed-cell blocks after their
 * msgpack headers, never copied into the encoder's buffer. The parts must decode to what the whole
 * message encodes to, for any number of runs and blocks, and maps on either side of msgpack's
 * fixmap/map16 boundary.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, encodeResultParts, type Result } from '../src/protocol/messages.js';

const block = fc.uint8Array({ minLength: 0, maxLength: 300 });
const run = fc.record({
  kind: fc.constantFrom('mart', 'dim', 'cust', 'basket'),
  name: fc.string({ maxLength: 40 }),
  blocks: fc.array(block, { maxLength: 20 }),
});

describe('a result as parts', () => {
  it('decodes to the same message as the whole encoding', () => {
    fc.assert(
      fc.property(
        fc.array(run, { maxLength: 18 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (cells, extraKeys, usage) => {
          const partial: Record<string, unknown> = {
            rows: 3,
            units: '7',
            revenue: '12.50',
            months: [],
            cells,
          };
          // Pushes the partial's map past 15 entries (map16) on some runs.
          for (let i = 0; i < extraKeys; i++) partial[`k${i}`] = i;
          const result = {
            type: 'result',
            chunkId: 4,
            attempt: 1,
            partial,
            parseMs: 12.5,
            ...(usage ? { usage: { maxRssKb: 1, userMs: 2, systemMs: 3 } } : {}),
          } as unknown as Result;
          const parts = encodeResultParts(result);
          const joined = Buffer.concat(parts);
          expect(decodeMessage(joined)).toEqual(decodeMessage(encodeMessage(result)));
          // The blocks themselves are parts, not copies.
          for (const r of cells) for (const b of r.blocks) if (b.length > 0) expect(parts).toContain(b);
        },
      ),
      { numRuns: 200 },
    );
  });
});
