import {describe, expect, it} from 'vitest'

import {shareOfPlan} from '../../../src/lib/loadtest/load-test-service.js'

describe('shareOfPlan', () => {
  it('gives each of n producers an nth of the rate, the same warm-up and duration', () => {
    const plan = {ratePerSec: 5000, warmupUs: 3_000_000, durationUs: 20_000_000}
    expect([0, 1].map((k) => shareOfPlan(plan, 2, k))).toEqual([
      {ratePerSec: 2500, warmupUs: 3_000_000, durationUs: 20_000_000},
      {ratePerSec: 2500, warmupUs: 3_000_000, durationUs: 20_000_000},
    ])
    expect(shareOfPlan({...plan, ratePerSec: 0}, 4, 3).ratePerSec).toBe(0)
  })

  it('splits a count exactly, the remainder to the first producers', () => {
    const plan = {ratePerSec: 0, warmupUs: 0, count: 1001}
    const counts = [0, 1, 2].map((k) => shareOfPlan(plan, 3, k).count)
    expect(counts).toEqual([334, 334, 333])
    expect(counts.reduce((a, b) => a! + b!, 0)).toBe(1001)
    expect(shareOfPlan(plan, 1, 0)).toEqual(plan)
  })
})
