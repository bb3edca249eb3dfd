import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { CustomerRow } from '../src/segment/customer-table.js';
import { renderSegment, segmentCsvLines, segmentJson } from '../src/segment/format.js';
import { runSegment } from '../src/segment/run-segment.js';
import { Rng } from './helpers/prng.js';

function rows(n: number): CustomerRow[] {
  const rng = new Rng(n);
  return Array.from({ length: n }, (_, i) => {
    const orders = rng.int(1, 9);
    return {
      customer: i === 3 ? 'Smith, "Jo"' : `c${i}`,
      rows: orders,
      orders,
      units: orders * 2,
      revenue: `${rng.int(1, 9999)}.${String(rng.int(0, 99)).padStart(2, '0')}`,
      firstDate: '2024-01-15',
      lastDate: `2025-0${rng.int(1, 9)}-1${rng.int(0, 9)}`,
      monthsActive: rng.int(1, 6),
    };
  });
}

describe('segment outputs', () => {
  it('prints the documented JSON shape with exact revenue strings', () => {
    const res = runSegment(rows(200), { seed: 2 });
    const json = JSON.parse(JSON.stringify(segmentJson(res.summary, 7)));
    expect(Object.keys(json)).toEqual(
      expect.arrayContaining([
        'runId',
        'customers',
        'k',
        'silhouette',
        'explainedVariance',
        'clusters',
        'rfm',
        'clvDeciles',
      ]),
    );
    expect(json.runId).toBe(7);
    expect(json.clusters).toHaveLength(json.k);
    for (const c of json.clusters) {
      expect(Object.keys(c)).toEqual(
        expect.arrayContaining(['cluster', 'customers', 'revenue', 'label', 'profile']),
      );
      expect(c.revenue).toMatch(/^\d+\.\d\d$/);
    }
    for (const d of json.clvDeciles) expect(d.revenue).toMatch(/^\d+\.\d\d$/);
    const cents = (t: string) => BigInt(t.replace('.', ''));
    const sum = (xs: Array<{ revenue: string }>) => xs.reduce((s, x) => s + cents(x.revenue), 0n);
    expect(sum(json.rfm)).toBe(cents(json.revenue));
    expect(sum(json.clvDeciles)).toBe(cents(json.revenue));
    expect(sum(json.clusters)).toBe(cents(json.revenue));
  });

  it('writes one CSV line per customer, quoted where needed', () => {
    const res = runSegment(rows(120), { seed: 2 });
    const records = parse([...segmentCsvLines(res)].join(''), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(records).toHaveLength(120);
    expect(records.find((r) => r.customer === 'Smith, "Jo"')).toBeDefined();
    for (const r of records) {
      expect(Number(r.cluster)).toBeLessThan(res.summary.k ?? 0);
      expect(r.cluster_label).toBe(res.summary.clusters[Number(r.cluster)].label);
      expect(Number(r.clv_decile)).toBeGreaterThanOrEqual(1);
    }
  });

  it('renders human tables, and says why there are no clusters for a handful of customers', () => {
    const text = renderSegment(runSegment(rows(150), { seed: 2 }).summary);
    for (const heading of ['principal components', 'clusters', 'RFM segments', 'lifetime-value deciles']) {
      expect(text).toContain(heading);
    }
    const few = renderSegment(runSegment(rows(5)).summary);
    expect(few).toContain('E_TOO_FEW_CUSTOMERS');
    expect(few).toContain('lifetime-value deciles');
    expect(few).not.toContain('principal components');
  });
});
