import {describe, expect, it} from 'vitest'

import {SendSchedule} from '../../../src/lib/loadtest/schedule.js'

describe('SendSchedule (paced)', () => {
  const schedule = new SendSchedule({ratePerSec: 1000, warmupUs: 2_000_000, durationUs: 10_000_000}, 5_000)

  it('fixes slot i at start + i / rate', () => {
    expect(schedule.paced).toBe(true)
    expect(schedule.intendedUs(0)).toBe(5_000)
    expect(schedule.intendedUs(1)).toBe(6_000)
    expect(schedule.intendedUs(2500)).toBe(2_505_000)
  })

  it('counts the slots due: none before the start, one at it, then one per interval', () => {
    expect(schedule.dueSlots(4_999)).toBe(0)
    expect(schedule.dueSlots(5_000)).toBe(1)
    expect(schedule.dueSlots(5_999)).toBe(1)
    expect(schedule.dueSlots(6_000)).toBe(2)
    // A producer that stalled for a second finds a second's worth due at once: slots never move.
    expect(schedule.dueSlots(1_005_000)).toBe(1001)
  })

  it('leaves the warm-up out and ends after warm-up + duration', () => {
    expect(schedule.inWarmup(schedule.offsetUs(1999))).toBe(true)
    expect(schedule.inWarmup(schedule.offsetUs(2000))).toBe(false)
    expect(schedule.measureStartUs).toBe(2_005_000)
    expect(schedule.pastEnd(schedule.offsetUs(11_999), 9_999)).toBe(false)
    expect(schedule.pastEnd(schedule.offsetUs(12_000), 10_000)).toBe(true)
  })

  it('puts the first slot after the warm-up on the right side of it, whatever the start on the clock', () => {
    // 12345678.123 + 1e6 − 12345678.123 is 999999.9999… in floating point: offsets, not times, decide.
    for (const start of [0, 12_345_678.123, 987_654_321.987, 3.3]) {
      const at = new SendSchedule({ratePerSec: 500, warmupUs: 1_000_000, count: 1000}, start)
      expect(at.inWarmup(at.offsetUs(499)), String(start)).toBe(true)
      expect(at.inWarmup(at.offsetUs(500)), String(start)).toBe(false)
    }
  })

  it('at a fractional interval (3/s) still places slots exactly', () => {
    const slow = new SendSchedule({ratePerSec: 3, warmupUs: 0, count: 10}, 0)
    expect(slow.intendedUs(3)).toBeCloseTo(1_000_000, 6)
    expect(slow.dueSlots(999_999)).toBe(3)
    expect(slow.dueSlots(1_000_001)).toBe(4)
  })
})

describe('SendSchedule (as fast as possible)', () => {
  it('has every slot due and ends on the clock or the count', () => {
    const timed = new SendSchedule({ratePerSec: 0, warmupUs: 1_000_000, durationUs: 5_000_000}, 0)
    expect(timed.paced).toBe(false)
    expect(timed.dueSlots(0)).toBe(Number.POSITIVE_INFINITY)
    expect(timed.pastEnd(5_999_999, 123)).toBe(false)
    expect(timed.pastEnd(6_000_000, 123)).toBe(true)

    const counted = new SendSchedule({ratePerSec: 0, warmupUs: 1_000_000, count: 100}, 0)
    // Records sent during the warm-up do not count towards --count.
    expect(counted.pastEnd(500_000, 100)).toBe(false)
    expect(counted.pastEnd(1_500_000, 99)).toBe(false)
    expect(counted.pastEnd(1_500_000, 100)).toBe(true)
  })

  it('refuses a plan with both or neither of duration and count, and a negative rate', () => {
    expect(() => new SendSchedule({ratePerSec: 0, warmupUs: 0}, 0)).toThrow(/exactly one/)
    expect(() => new SendSchedule({ratePerSec: 0, warmupUs: 0, count: 1, durationUs: 1}, 0)).toThrow(/exactly one/)
    expect(() => new SendSchedule({ratePerSec: -1, warmupUs: 0, count: 1}, 0)).toThrow(/not a rate/)
  })
})
