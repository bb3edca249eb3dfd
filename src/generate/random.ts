// The seeded PRNG that every generator (and the segmentation's sampling) draws from, and the
// weighted pick they share: the same seed gives the same sequence on every machine.

/** mulberry32: a 32-bit-state PRNG, returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Folds both 32-bit halves of a safe integer into one 32-bit state, so large seeds differ too. */
export function seedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4_294_967_296) >>> 0;
  return (Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b) ^ lo) >>> 0;
}

/** Running sums of the weights, divided by their total: the last is 1, for pickWeighted. */
export function cumulate(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i];
    out[i] = sum;
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** First index whose cumulative weight exceeds r (r in [0, 1)). */
export function pickWeighted(cumulative: Float64Array, r: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
