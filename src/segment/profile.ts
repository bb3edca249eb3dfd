// Owns cluster profiles: each cluster's customers, exact revenue, mean raw features, their
// z-scores against all customers, and a plain-words label read off the profile.

import { formatScaled } from '../aggregate/decimal.js';
import type { CustomerTable } from './customer-table.js';
import type { FeatureMatrix } from './features.js';

export interface ClusterProfile {
  cluster: number;
  customers: number;
  /** Exact decimal text. */
  revenue: string;
  label: string;
  /** Mean raw value per feature name. */
  profile: Record<string, number>;
  /** (cluster mean − overall mean) / overall sd, per feature name (0 for a constant feature). */
  zScores: Record<string, number>;
}

/** |z| above this reads as "high"/"low" in a label. */
const Z_NOTABLE = 0.5;
/** A cluster whose mean share of one category reaches this is a single-category cluster. */
const SINGLE_CATEGORY_SHARE = 0.8;

/** Words for a profile, e.g. "frequent high spenders", "lapsed one-time buyers". */
export function labelProfile(profile: Record<string, number>, z: Record<string, number>): string {
  const words: string[] = [];
  if (z.recency > Z_NOTABLE) words.push('lapsed');
  else if (z.recency < -Z_NOTABLE && profile.frequency >= 1.5) words.push('active');
  if (profile.frequency < 1.5) words.push('one-time');
  else if (z.frequency > Z_NOTABLE) words.push('frequent');
  else if (z.frequency < -Z_NOTABLE) words.push('occasional');
  else words.push('regular');
  if (z.monetary > Z_NOTABLE) words.push('high spenders');
  else if (z.monetary < -Z_NOTABLE) words.push('low spenders');
  else words.push('buyers');
  let top = '';
  let share = 0;
  for (const [name, v] of Object.entries(profile)) {
    if (name.startsWith('share:') && v > share) {
      share = v;
      top = name.slice('share:'.length);
    }
  }
  // One order is always concentrated, so only repeat buyers read as single-category.
  if (share >= SINGLE_CATEGORY_SHARE) words.push(`of ${top} only`);
  else if (profile.frequency >= 1.5 && (profile.topCategoryShare ?? 0) >= SINGLE_CATEGORY_SHARE)
    words.push('of one category only');
  return words.join(' ');
}

export function profileClusters(
  table: CustomerTable,
  features: FeatureMatrix,
  assignment: Int32Array,
  k: number,
): ClusterProfile[] {
  const { n } = table;
  const d = features.names.length;
  const counts = new Float64Array(k);
  const sums = new Float64Array(k * d);
  const revenue: bigint[] = Array.from({ length: k }, () => 0n);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = assignment[i];
    counts[c]++;
    revenue[c] += table.revenue[i];
    features.rawRow(i, row);
    for (let f = 0; f < d; f++) sums[c * d + f] += row[f];
  }
  const overall = features.rawMoments;
  const out: ClusterProfile[] = [];
  for (let c = 0; c < k; c++) {
    const profile: Record<string, number> = {};
    const zScores: Record<string, number> = {};
    for (let f = 0; f < d; f++) {
      const mean = counts[c] > 0 ? sums[c * d + f] / counts[c] : 0;
      const name = features.names[f];
      profile[name] = mean;
      zScores[name] = overall[f].sd > 0 ? (mean - overall[f].mean) / overall[f].sd : 0;
    }
    out.push({
      cluster: c,
      customers: counts[c],
      revenue: formatScaled(revenue[c], table.scale),
      label: labelProfile(profile, zScores),
      profile,
      zScores,
    });
  }
  return out;
}
