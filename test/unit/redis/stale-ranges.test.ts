import {describe, expect, it} from 'vitest'

import {mergeRanges, StaleRanges} from '../../../src/lib/redis/stale-ranges.js'

describe('mergeRanges', () => {
  it('merges overlapping and adjacent ranges', () => {
    expect(mergeRanges([{from: 10n, to: 19n}, {from: 0n, to: 9n}, {from: 30n, to: 40n}, {from: 35n, to: 50n}])).toEqual([
      {from: 0n, to: 19n},
      {from: 30n, to: 50n},
    ])
  })
})

describe('StaleRanges', () => {
  it('tracks ranges per partition and clears what a catch-up rebuilt', () => {
    const stale = new StaleRanges()
    expect(stale.isStale).toBe(false)
    stale.add('events', 0, 100n, 199n)
    stale.add('events', 0, 200n, 299n)
    stale.add('events', 3, 5n, 5n)
    expect(stale.snapshot()).toEqual([
      {topic: 'events', partition: 0, ranges: [{from: 100n, to: 299n}]},
      {topic: 'events', partition: 3, ranges: [{from: 5n, to: 5n}]},
    ])
    stale.remove('events', 3, {from: 5n, to: 5n})
    stale.remove('events', 0, {from: 100n, to: 299n})
    expect(stale.isStale).toBe(false)
  })

  it('keeps ranges added while a catch-up ran', () => {
    const stale = new StaleRanges()
    stale.add('events', 1, 0n, 99n)
    const [snap] = stale.snapshot()
    stale.add('events', 1, 100n, 149n) // a failure during the catch-up
    stale.remove('events', 1, snap!.ranges[0]!)
    expect(stale.snapshot()).toEqual([{topic: 'events', partition: 1, ranges: [{from: 100n, to: 149n}]}])
  })

  it('splits a range when its middle was rebuilt', () => {
    const stale = new StaleRanges()
    stale.add('t', 0, 0n, 100n)
    stale.remove('t', 0, {from: 10n, to: 20n})
    expect(stale.snapshot()[0]!.ranges).toEqual([
      {from: 0n, to: 9n},
      {from: 21n, to: 100n},
    ])
  })
})
