import type {Message} from 'kafkajs'
import {describe, expect, it} from 'vitest'

import {chunkBySize, deadLetterMessage, messageBytes} from '../../../src/lib/dlq/dead-letter.js'

function poison(i: number, valueBytes: number): Message {
  return deadLetterMessage(
    {
      record: {topic: 'events', partition: 3, offset: String(1000 + i), key: Buffer.from(`k-${i}`), value: Buffer.alloc(valueBytes, 0x7b), headers: {trace: 'abc'}, timestamp: '1767225600000'},
      errorClass: 'decode',
      message: 'the value is not JSON: Unexpected token',
    },
    {worker: 'events', failedAt: new Date('2026-01-01T00:00:00Z')},
  )
}

describe('messageBytes', () => {
  it('counts key, value and every header name and value, plus overhead', () => {
    const bare = messageBytes({key: null, value: null})
    expect(messageBytes({key: 'abc', value: Buffer.alloc(100)})).toBe(bare + 103)
    const withHeader = messageBytes({key: null, value: null, headers: {h: 'xyz'}})
    expect(withHeader).toBeGreaterThan(bare + 4)
    // Dead-letter headers weigh hundreds of bytes: that is what made 2,000 letters exceed 1 MiB.
    expect(messageBytes(poison(0, 100)) - 100).toBeGreaterThan(300)
  })
})

describe('chunkBySize', () => {
  it('keeps every request under the limit and the order as it was', () => {
    const messages = Array.from({length: 2000}, (_, i) => poison(i, 100 + (i % 50)))
    const total = messages.reduce((sum, m) => sum + messageBytes(m), 0)
    expect(total).toBeGreaterThan(1_048_588) // one request of them all would be refused
    const chunks = chunkBySize(messages, 65_536)
    expect(chunks.length).toBeGreaterThan(1)
    for (const chunk of chunks) expect(chunk.reduce((sum, m) => sum + messageBytes(m), 0)).toBeLessThanOrEqual(65_536)
    expect(chunks.flat()).toEqual(messages)
  })

  it('sends a message larger than the limit alone, so the broker can name it', () => {
    const messages = [poison(0, 10), poison(1, 5000), poison(2, 10)]
    const chunks = chunkBySize(messages, 2000)
    expect(chunks.map((c) => c.length)).toEqual([1, 1, 1])
    expect(chunks[1]![0]).toBe(messages[1])
  })

  it('gives nothing for nothing', () => {
    expect(chunkBySize([], 1000)).toEqual([])
  })
})
