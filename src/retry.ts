/**
 * Retry policy, pure: whether a failed chunk goes back to the queue, and reconnect backoff.
 */
import { NON_RETRYABLE } from './errors.js';

/** A chunk that failed with `code` after `attempts` tries: try again? */
export function shouldRetry(code: string | null, attempts: number, maxAttempts: number): boolean {
  if (code !== null && NON_RETRYABLE.has(code)) return false;
  return attempts < maxAttempts;
}

/** Exponential backoff with full jitter: a random delay in [base, min(cap, base·2^attempt)]. */
export function backoffMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 100,
  capMs = 5_000,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(baseMs + random() * (ceiling - baseMs));
}
