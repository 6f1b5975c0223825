/** Exponential backoff with jitter for sink and dead-letter retries. */
export interface BackoffPolicy {
  initialMs: number
  maxMs: number
  multiplier: number
  /** 0..1: the share of each delay that is randomised. */
  jitter: number
}

export const SINK_BACKOFF: BackoffPolicy = {initialMs: 200, maxMs: 15_000, multiplier: 2, jitter: 0.2}

/** Delay before retry number `attempt` (1 = the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1)
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** exponent)
  const spread = base * policy.jitter
  return Math.max(0, Math.round(base - spread + 2 * spread * random()))
}
