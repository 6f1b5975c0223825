import {describe, expect, it} from 'vitest'

import {canonicalJson, countBuckets, latestArgs, latestPerEntity, minuteBucket, type ProjectedEvent} from '../../../src/lib/redis/projections.js'

function event(over: Partial<ProjectedEvent>): ProjectedEvent {
  return {
    eventId: 'e1',
    type: 'user.signup',
    source: 'accounts',
    key: 'user-1',
    occurredAtMs: Date.parse('2024-05-01T12:34:56.789Z'),
    correlationId: null,
    schemaVersion: 1,
    payload: {plan: 'pro'},
    ...over,
  }
}

describe('latestPerEntity', () => {
  it('keeps the greatest (occurredAt, eventId) per key, whatever the order', () => {
    const a = event({eventId: 'a', occurredAtMs: 1000})
    const b = event({eventId: 'b', occurredAtMs: 2000})
    const c = event({eventId: 'c', occurredAtMs: 2000})
    const other = event({eventId: 'z', key: 'user-2', occurredAtMs: 5})
    expect(latestPerEntity([a, b, c, other]).map((e) => e.eventId)).toEqual(['c', 'z'])
    expect(latestPerEntity([c, other, b, a]).map((e) => e.eventId)).toEqual(['c', 'z'])
  })
})

describe('countBuckets', () => {
  it('groups event ids by type and UTC minute', () => {
    const buckets = countBuckets([
      event({eventId: '1', occurredAtMs: Date.parse('2024-05-01T12:34:00Z')}),
      event({eventId: '2', occurredAtMs: Date.parse('2024-05-01T12:34:59.999Z')}),
      event({eventId: '3', occurredAtMs: Date.parse('2024-05-01T12:35:00Z')}),
      event({eventId: '4', type: 'order.placed', occurredAtMs: Date.parse('2024-05-01T12:34:10Z')}),
    ])
    expect([...buckets.keys()].sort()).toEqual([
      'kpipe:counts:order.placed:202405011234',
      'kpipe:counts:user.signup:202405011234',
      'kpipe:counts:user.signup:202405011235',
    ])
    expect(buckets.get('kpipe:counts:user.signup:202405011234')!.ids).toEqual(['1', '2'])
  })
})

describe('minuteBucket', () => {
  it('is the UTC minute', () => {
    expect(minuteBucket(Date.parse('2024-12-31T23:59:59+02:00'))).toBe('202412312159')
  })
})

describe('canonicalJson', () => {
  it('sorts keys at every depth so jsonb round trips give the same text', () => {
    expect(canonicalJson({b: 1, a: {d: [1, {z: 1, y: 2}], c: null}})).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}')
    expect(canonicalJson({b: 1, a: 2})).toBe(canonicalJson(JSON.parse('{"a":2,"b":1}')))
  })
})

describe('latestArgs', () => {
  it('normalises the timestamp and an absent correlation id', () => {
    const args = latestArgs(event({occurredAtMs: Date.parse('2024-05-01T14:34:56.789+02:00')}))
    expect(args[4]).toBe('2024-05-01T12:34:56.789Z')
    expect(args[5]).toBe('')
    expect(args).toHaveLength(8)
  })
})
