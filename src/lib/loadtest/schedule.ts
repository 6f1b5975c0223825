/**
 * When each load-test record is meant to be sent. A paced run follows the OpenMessaging
 * Benchmark's UniformRateLimiter: slot i is due at start + i / rate, fixed in advance, so a slow
 * send delays the records behind it (their publish delay grows) instead of moving their slots,
 * and a stalled producer shows in the corrected latency rather than hiding in a lower rate.
 * Rate 0 means as fast as possible: a record is due when the producer can take it.
 *
 * Times are microseconds on one monotonic clock (performance.now() × 1000). Warm-up and end are
 * judged on the offset from the start (slot × interval), never on absolute times: start + offset −
 * start is not offset in floating point, and a slot must not fall on the wrong side of the warm-up.
 */

export interface LoadPlan {
  /** Records per second; 0 = as fast as possible. */
  ratePerSec: number
  /** Records intended in the first warmupUs are sent but left out of every figure. */
  warmupUs: number
  /** Stop after this long past the warm-up (exclusive with count). */
  durationUs?: number
  /** Stop after this many records past the warm-up. */
  count?: number
}

export class SendSchedule {
  private readonly intervalUs: number

  constructor(
    readonly plan: LoadPlan,
    readonly startUs: number,
  ) {
    if (plan.ratePerSec < 0 || !Number.isFinite(plan.ratePerSec)) throw new RangeError(`rate ${plan.ratePerSec} is not a rate`)
    if ((plan.durationUs === undefined) === (plan.count === undefined)) throw new RangeError('a load plan needs exactly one of durationUs and count')
    this.intervalUs = plan.ratePerSec > 0 ? 1e6 / plan.ratePerSec : 0
  }

  get paced(): boolean {
    return this.intervalUs > 0
  }

  /** The intended send time of slot i, as an offset from the start (paced runs only). */
  offsetUs(slot: number): number {
    return slot * this.intervalUs
  }

  /** The intended send time of slot i on the clock (paced runs only). */
  intendedUs(slot: number): number {
    return this.startUs + this.offsetUs(slot)
  }

  /** How many slots are due at nowUs (paced runs: 0 before the start; unpaced: unlimited). */
  dueSlots(nowUs: number): number {
    if (!this.paced) return Number.POSITIVE_INFINITY
    if (nowUs < this.startUs) return 0
    return Math.floor((nowUs - this.startUs) / this.intervalUs) + 1
  }

  /** Whether a record intended offsetUs after the start falls in the warm-up. */
  inWarmup(offsetUs: number): boolean {
    return offsetUs < this.plan.warmupUs
  }

  /**
   * Whether the record after `measured` measured records, intended offsetUs after the start, is
   * past the end of the run. A count-bound run ends after `count` measured records; a timed run
   * ends at warm-up + duration.
   */
  pastEnd(offsetUs: number, measured: number): boolean {
    if (this.plan.count !== undefined) return measured >= this.plan.count && !this.inWarmup(offsetUs)
    return offsetUs >= this.plan.warmupUs + this.plan.durationUs!
  }

  /** When the measured part begins (the end of the warm-up). */
  get measureStartUs(): number {
    return this.startUs + this.plan.warmupUs
  }
}
