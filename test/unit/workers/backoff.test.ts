import {describe, expect, it} from 'vitest'

import {backoffDelay} from '../../../src/lib/workers/backoff.js'

const policy = {initialMs: 200, maxMs: 10_000, multiplier: 2, jitter: 0}

describe('backoffDelay', () => {
  it('doubles from the initial delay', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy))).toEqual([200, 400, 800, 1600])
  })

  it('is capped', () => {
    expect(backoffDelay(30, policy)).toBe(10_000)
    expect(backoffDelay(1000, policy)).toBe(10_000)
  })

  it('spreads by the jitter share', () => {
    const jittered = {...policy, jitter: 0.5}
    expect(backoffDelay(1, jittered, () => 0)).toBe(100)
    expect(backoffDelay(1, jittered, () => 1)).toBe(300)
  })
})
