import {Partitioners, type PartitionMetadata} from 'kafkajs'
import {describe, expect, it} from 'vitest'

import {keyCachingPartitioner} from '../../../src/lib/loadtest/load-test-service.js'

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({length: n}, (_, partitionId) => ({partitionId, leader: 1, replicas: [1], isr: [1], offlineReplicas: [], partitionErrorCode: 0}))

describe('keyCachingPartitioner', () => {
  it('puts every key where kafkajs\' default (Java murmur2) partitioner does, also from its cache', () => {
    const cached = keyCachingPartitioner()
    const reference = Partitioners.DefaultPartitioner()
    const keys = Array.from({length: 500}, (_, i) => Buffer.from(`lt-${String(i).padStart(4, '0')}`))
    for (let round = 0; round < 2; round++) {
      for (const key of keys) {
        const args = {topic: 't', partitionMetadata: metadata(6), message: {key, value: null}}
        expect(cached(args)).toBe(reference(args))
      }
    }
    // The 500 keys spread over all six partitions.
    expect(new Set(keys.map((key) => cached({topic: 't', partitionMetadata: metadata(6), message: {key, value: null}}))).size).toBe(6)
  })

  it('forgets its cache when the topic gains partitions', () => {
    const cached = keyCachingPartitioner()
    const reference = Partitioners.DefaultPartitioner()
    const keys = Array.from({length: 200}, (_, i) => Buffer.from(`k${i}`))
    for (const key of keys) cached({topic: 't', partitionMetadata: metadata(3), message: {key, value: null}})
    for (const key of keys) {
      const args = {topic: 't', partitionMetadata: metadata(12), message: {key, value: null}}
      expect(cached(args)).toBe(reference(args))
    }
  })
})
