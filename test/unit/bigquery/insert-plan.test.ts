import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {planRequests, REQUEST_OVERHEAD_BYTES, requestBytes} from '../../../src/lib/bigquery/insert-plan.js'

const size = (n: number) => n

describe('planRequests', () => {
  it('bounds each request by rows', () => {
    const items = Array.from({length: 1200}, () => 10)
    const plan = planRequests(items, size, {maxRows: 500, maxBytes: 10_000_000})
    expect(plan.map((r) => r.length)).toEqual([500, 500, 200])
  })

  it('bounds each request by the bytes of its rows plus the body overhead', () => {
    const items = Array.from({length: 10}, () => 1000)
    const plan = planRequests(items, size, {maxRows: 500, maxBytes: REQUEST_OVERHEAD_BYTES + 3000})
    expect(plan.map((r) => r.length)).toEqual([3, 3, 3, 1])
    for (const request of plan) expect(requestBytes(request, size)).toBeLessThanOrEqual(REQUEST_OVERHEAD_BYTES + 3000)
  })

  it('sends a row larger than the byte bound alone, between the others', () => {
    const plan = planRequests([100, 100, 5000, 100], size, {maxRows: 500, maxBytes: 1000})
    expect(plan).toEqual([[100, 100], [5000], [100]])
  })

  it('gives no request for no rows', () => {
    expect(planRequests([], size, {maxRows: 500, maxBytes: 1000})).toEqual([])
  })

  it('keeps every row once, in order, within both bounds (a lone oversized row excepted)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({min: 1, max: 5000}), {maxLength: 300}), fc.integer({min: 1, max: 50}), fc.integer({min: 1000, max: 20_000}), (items, maxRows, maxBytes) => {
        const plan = planRequests(items, size, {maxRows, maxBytes})
        expect(plan.flat()).toEqual(items)
        for (const request of plan) {
          expect(request.length).toBeGreaterThan(0)
          expect(request.length).toBeLessThanOrEqual(maxRows)
          if (request.length > 1) expect(requestBytes(request, size)).toBeLessThanOrEqual(maxBytes)
        }
        // Greedy: a request ends only when the next row would not fit.
        for (let i = 0; i + 1 < plan.length; i++) {
          const next = plan[i + 1]![0]!
          expect(plan[i]!.length === maxRows || requestBytes(plan[i]!, size) + next > maxBytes).toBe(true)
        }
      }),
    )
  })
})
