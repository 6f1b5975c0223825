import {describe, expect, it} from 'vitest'

import {DISTRIBUTION_PERCENTILES, LatencyRecorder} from '../../../src/lib/loadtest/latency.js'

describe('LatencyRecorder', () => {
  it('summarises 1..10,000 µs within HdrHistogram\'s three significant digits', () => {
    const recorder = new LatencyRecorder()
    for (let us = 1; us <= 10_000; us++) recorder.record(us)
    const s = recorder.summary()
    expect(s.count).toBe(10_000)
    expect(s.avg).toBeCloseTo(5.0005, 2)
    expect(s.max).toBeCloseTo(10, 2)
    for (const [got, want] of [
      [s.p50, 5],
      [s.p95, 9.5],
      [s.p99, 9.9],
      [s.p999, 9.99],
    ] as const) {
      expect(Math.abs(got - want) / want).toBeLessThan(0.002)
    }
    expect(s.distribution.map((d) => d.percentile)).toEqual([...DISTRIBUTION_PERCENTILES])
    const values = s.distribution.map((d) => d.ms)
    expect(values).toEqual([...values].sort((a, b) => a - b))
    expect(values.at(-1)).toBe(s.max)
  })

  it('never reports a percentile above the maximum', () => {
    const recorder = new LatencyRecorder()
    for (const us of [144_420, 90_000, 85_000]) recorder.record(us)
    const s = recorder.summary()
    expect(s.p999).toBeLessThanOrEqual(s.max)
    expect(s.p99).toBeLessThanOrEqual(s.max)
  })

  it('shows a stall in the tail: 1% of a million at 1 s', () => {
    const recorder = new LatencyRecorder()
    for (let i = 0; i < 990_000; i++) recorder.record(1000)
    for (let i = 0; i < 10_000; i++) recorder.record(1_000_000)
    const s = recorder.summary()
    expect(s.p50).toBeCloseTo(1, 2)
    expect(s.p95).toBeCloseTo(1, 2)
    expect(s.p999).toBeGreaterThan(990)
    expect(s.avg).toBeCloseTo(10.99, 1)
  })

  it('is all zeros when empty, counts negative clock noise as 0, and resets', () => {
    const recorder = new LatencyRecorder()
    expect(recorder.summary()).toEqual({count: 0, avg: 0, max: 0, p50: 0, p95: 0, p99: 0, p999: 0, distribution: []})
    recorder.record(-3)
    expect(recorder.summary().max).toBe(0)
    expect(recorder.count).toBe(1)
    recorder.reset()
    expect(recorder.count).toBe(0)
  })
})
