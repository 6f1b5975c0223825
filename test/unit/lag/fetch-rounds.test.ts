import {fc, test} from '@fast-check/vitest'
import {describe, expect, it} from 'vitest'

import {fetchRounds} from '../../../src/lib/lag/lag-service.js'

describe('fetchRounds', () => {
  it('puts a partition once per request and at most `size` partitions in one', () => {
    const p = (topic: string, partition: number, offset: number) => ({topic, partition, offset})
    expect(fetchRounds([p('a', 0, 1), p('a', 0, 2), p('a', 1, 1), p('b', 0, 5), p('a', 0, 3)], 2)).toEqual([
      [p('a', 0, 1), p('a', 1, 1)],
      [p('a', 0, 2), p('b', 0, 5)],
      [p('a', 0, 3)],
    ])
    expect(fetchRounds([], 32)).toEqual([])
  })

  test.prop([fc.array(fc.record({topic: fc.constantFrom('a', 'b', 'c'), partition: fc.nat(5), offset: fc.nat()})), fc.integer({min: 1, max: 8})])(
    'keeps every position exactly once, in rounds without a repeated partition',
    (positions, size) => {
      const rounds = fetchRounds(positions, size)
      expect(rounds.flat()).toHaveLength(positions.length)
      expect(new Set(rounds.flat())).toEqual(new Set(positions))
      for (const round of rounds) {
        expect(round.length).toBeLessThanOrEqual(size)
        expect(new Set(round.map((r) => `${r.topic}/${r.partition}`)).size).toBe(round.length)
      }
    },
  )
})
