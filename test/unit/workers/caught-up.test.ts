import {describe, expect, it} from 'vitest'

import {isCaughtUp, partitionLag} from '../../../src/lib/workers/caught-up.js'

describe('partitionLag', () => {
  it('is end minus committed', () => {
    expect(partitionLag({partition: 0, committed: 90n, start: 0n, end: 100n})).toBe(10n)
  })
  it('counts everything on the broker when nothing was committed', () => {
    expect(partitionLag({partition: 0, committed: -1n, start: 40n, end: 100n})).toBe(60n)
  })
  it('does not count records deleted by retention', () => {
    expect(partitionLag({partition: 0, committed: 10n, start: 40n, end: 100n})).toBe(60n)
  })
  it('is never negative', () => {
    expect(partitionLag({partition: 0, committed: 120n, start: 0n, end: 100n})).toBe(0n)
  })
})

describe('isCaughtUp', () => {
  it('needs every partition at lag 0', () => {
    expect(isCaughtUp([{partition: 0, committed: 5n, start: 0n, end: 5n}, {partition: 1, committed: -1n, start: 0n, end: 0n}])).toBe(true)
    expect(isCaughtUp([{partition: 0, committed: 5n, start: 0n, end: 5n}, {partition: 1, committed: 3n, start: 0n, end: 4n}])).toBe(false)
  })
  it('is false with no partitions assigned', () => {
    expect(isCaughtUp([])).toBe(false)
  })
})
