import {describe, expect, it} from 'vitest'

import {deadLetterHeaders, deadLetterMessage, deadLetterTopic, MAX_ERROR_MESSAGE_LENGTH} from '../../../src/lib/dlq/dead-letter.js'
import type {SourceRecord} from '../../../src/lib/workers/types.js'

const record: SourceRecord = {
  topic: 'events',
  partition: 4,
  offset: '12345',
  key: Buffer.from('user-1'),
  value: Buffer.from('{not json'),
  headers: {traceparent: Buffer.from('00-abc-def-01'), 'content-type': 'application/json'},
  timestamp: '1714564800000',
}
const context = {worker: 'events', failedAt: new Date('2024-05-01T12:00:01.000Z')}

describe('deadLetterHeaders', () => {
  it('keeps the original headers and adds every kpipe.dlq header', () => {
    const headers = deadLetterHeaders({record, errorClass: 'decode', message: 'the value is not JSON.'}, context)
    expect(headers.traceparent).toEqual(Buffer.from('00-abc-def-01'))
    expect(headers['content-type']).toBe('application/json')
    // The header names of the contract (DESIGN §3), spelt out: replay-dlq and other readers
    // depend on these exact strings, not on whatever the module's constants say.
    expect(headers).toMatchObject({
      'kpipe.dlq.original.topic': 'events',
      'kpipe.dlq.original.partition': '4',
      'kpipe.dlq.original.offset': '12345',
      'kpipe.dlq.original.timestamp': '1714564800000',
      'kpipe.dlq.error.class': 'decode',
      'kpipe.dlq.error.message': 'the value is not JSON.',
      'kpipe.dlq.worker': 'events',
      'kpipe.dlq.failed.at': '2024-05-01T12:00:01.000Z',
      'kpipe.dlq.attempt': '1',
    })
    expect(Object.keys(headers).filter((k) => k.startsWith('kpipe.dlq.')).sort()).toEqual([
      'kpipe.dlq.attempt',
      'kpipe.dlq.error.class',
      'kpipe.dlq.error.message',
      'kpipe.dlq.failed.at',
      'kpipe.dlq.original.offset',
      'kpipe.dlq.original.partition',
      'kpipe.dlq.original.timestamp',
      'kpipe.dlq.original.topic',
      'kpipe.dlq.worker',
    ])
  })

  it('replaces the kpipe.dlq headers of an earlier failure and counts the attempt up', () => {
    const replayed: SourceRecord = {
      ...record,
      topic: 'events',
      offset: '99',
      headers: {...record.headers, 'kpipe.dlq.attempt': Buffer.from('2'), 'kpipe.dlq.error.class': 'sink', 'kpipe.dlq.original.offset': '7'},
    }
    const headers = deadLetterHeaders({record: replayed, errorClass: 'validation', message: 'field type is missing.'}, context)
    expect(headers['kpipe.dlq.attempt']).toBe('3')
    expect(headers['kpipe.dlq.error.class']).toBe('validation')
    expect(headers['kpipe.dlq.original.offset']).toBe('99')
  })

  it('ignores an attempt header that is not a positive number', () => {
    const odd: SourceRecord = {...record, headers: {'kpipe.dlq.attempt': 'x'}}
    expect(deadLetterHeaders({record: odd, errorClass: 'decode', message: 'm'}, context)['kpipe.dlq.attempt']).toBe('1')
  })

  it('cuts long error messages to one line of bounded length', () => {
    const long = `line one\nline two ${'x'.repeat(5000)}`
    const message = deadLetterHeaders({record, errorClass: 'sink', message: long}, context)['kpipe.dlq.error.message'] as string
    expect(message.length).toBe(MAX_ERROR_MESSAGE_LENGTH)
    expect(message).not.toContain('\n')
    expect(message.startsWith('line one line two')).toBe(true)
  })
})

describe('deadLetterMessage', () => {
  it('keeps the original key, value and timestamp', () => {
    const message = deadLetterMessage({record, errorClass: 'decode', message: 'bad'}, context)
    expect(message.key).toEqual(record.key)
    expect(message.value).toEqual(record.value)
    expect(message.timestamp).toBe(record.timestamp)
  })

  it('keeps a null value (a tombstone is dead-lettered as one)', () => {
    const message = deadLetterMessage({record: {...record, value: null, key: null}, errorClass: 'decode', message: 'no value'}, context)
    expect(message.value).toBeNull()
    expect(message.key).toBeNull()
  })
})

describe('deadLetterTopic', () => {
  it('appends .dlq', () => {
    expect(deadLetterTopic('events')).toBe('events.dlq')
  })
})
