import {describe, expect, it} from 'vitest'

import {deadLetterHeaders, deadLetterMessage, deadLetterTopic, DLQ_HEADERS, MAX_ERROR_MESSAGE_LENGTH} from '../../../src/lib/dlq/dead-letter.js'
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
    expect(headers).toMatchObject({
      [DLQ_HEADERS.originalTopic]: 'events',
      [DLQ_HEADERS.originalPartition]: '4',
      [DLQ_HEADERS.originalOffset]: '12345',
      [DLQ_HEADERS.originalTimestamp]: '1714564800000',
      [DLQ_HEADERS.errorClass]: 'decode',
      [DLQ_HEADERS.errorMessage]: 'the value is not JSON.',
      [DLQ_HEADERS.worker]: 'events',
      [DLQ_HEADERS.failedAt]: '2024-05-01T12:00:01.000Z',
      [DLQ_HEADERS.attempt]: '1',
    })
    expect(Object.keys(headers).filter((k) => k.startsWith('kpipe.dlq.'))).toHaveLength(9)
  })

  it('replaces the kpipe.dlq headers of an earlier failure and counts the attempt up', () => {
    const replayed: SourceRecord = {
      ...record,
      topic: 'events',
      offset: '99',
      headers: {...record.headers, [DLQ_HEADERS.attempt]: Buffer.from('2'), [DLQ_HEADERS.errorClass]: 'sink', [DLQ_HEADERS.originalOffset]: '7'},
    }
    const headers = deadLetterHeaders({record: replayed, errorClass: 'validation', message: 'field type is missing.'}, context)
    expect(headers[DLQ_HEADERS.attempt]).toBe('3')
    expect(headers[DLQ_HEADERS.errorClass]).toBe('validation')
    expect(headers[DLQ_HEADERS.originalOffset]).toBe('99')
  })

  it('ignores an attempt header that is not a positive number', () => {
    const odd: SourceRecord = {...record, headers: {[DLQ_HEADERS.attempt]: 'x'}}
    expect(deadLetterHeaders({record: odd, errorClass: 'decode', message: 'm'}, context)[DLQ_HEADERS.attempt]).toBe('1')
  })

  it('cuts long error messages to one line of bounded length', () => {
    const long = `line one\nline two ${'x'.repeat(5000)}`
    const message = deadLetterHeaders({record, errorClass: 'sink', message: long}, context)[DLQ_HEADERS.errorMessage] as string
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
