// The retail layout through segmentation: per-customer rows are computed here from the CSV (the
// workers' keyed aggregation does this once the customers table lands), then runSegment must find
// the planted personas.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRetail } from '../src/generate/retail.js';
import {
  BIG_SPENDER,
  LAPSED,
  ONE_TIME,
  PERSONAS,
  planRetail,
  SINGLE_CATEGORY,
} from '../src/generate/retail-plan.js';
import { customerSegments, runSegment, type SegmentResult } from '../src/segment/run-segment.js';
import { customerRows, readLines } from './helpers/retail-facts.js';

const OPTS = { rows: 120_000, customers: 3_000, products: 200, seed: 23 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-seg-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('segmenting the retail layout', () => {
  let res: SegmentResult;
  let persona: Uint8Array;
  let cluster: Map<string, number>;

  beforeAll(async () => {
    const out = path.join(dir, 'retail.csv');
    await generateRetail({ ...OPTS, out });
    res = runSegment(customerRows(readLines(out)), { seed: 5 });
    persona = planRetail(OPTS).persona;
    cluster = new Map([...customerSegments(res)].map((c) => [c.customer, c.cluster ?? -1]));
  });

  /** Share of a persona's customers that sit in clusters whose label matches. */
  function found(p: number, label: RegExp): number {
    let n = 0;
    let hit = 0;
    for (let c = 0; c < persona.length; c++) {
      if (persona[c] !== p) continue;
      n++;
      const k = cluster.get(String(c + 1)) as number;
      if (label.test(res.summary.clusters[k].label)) hit++;
    }
    return hit / n;
  }

  it('finds the planted behaviours in the cluster labels', () => {
    const s = res.summary;
    expect(s.customers).toBe(OPTS.customers);
    expect(s.k).toBeGreaterThanOrEqual(3);
    expect(s.componentsKept).toBeGreaterThanOrEqual(2);
    expect(s.explainedVariance.slice(0, s.componentsKept).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(
      0.9,
    );
    const report = s.clusters.map((c) => `${c.cluster} ${c.customers} ${c.label}`).join('\n');
    expect(found(ONE_TIME, /one-time/), report).toBeGreaterThan(0.9);
    expect(found(LAPSED, /lapsed/), report).toBeGreaterThan(0.8);
    expect(found(BIG_SPENDER, /high spenders/), report).toBeGreaterThan(0.8);
    expect(found(SINGLE_CATEGORY, /only$/), report).toBeGreaterThan(0.8);
    expect(PERSONAS).toHaveLength(5);
  });

  it('ranks the big spenders into the top lifetime-value decile and the RFM champions', () => {
    const list = new Map([...customerSegments(res)].map((c) => [c.customer, c]));
    let big = 0;
    let top = 0;
    let valued = 0;
    for (let c = 0; c < persona.length; c++) {
      if (persona[c] !== BIG_SPENDER) continue;
      big++;
      const row = list.get(String(c + 1));
      if (row?.clvDecile === 1) top++;
      if (row?.rfmSegment === 'Champions' || row?.rfmSegment === 'Loyal') valued++;
    }
    expect(top / big).toBeGreaterThan(0.9);
    expect(valued / big).toBeGreaterThan(0.8);
    // Pareto: the top tenth holds far more than a tenth of revenue
    expect(Number(res.summary.clvDeciles[0].share)).toBeGreaterThan(0.3);
  });
});
