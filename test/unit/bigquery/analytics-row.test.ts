import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {analyticsRow, bigQueryTimestamp, insertId, rowBytes} from '../../../src/lib/bigquery/analytics-row.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import type {DecodedRecord} from '../../../src/lib/workers/types.js'

function record(overrides: Partial<EventEnvelope> = {}, offset = '41'): DecodedRecord<EventEnvelope> {
  return {
    source: {topic: 'analytics', partition: 2, offset, key: Buffer.from('user-7'), value: null, headers: {}, timestamp: '0'},
    value: {
      eventId: 'ev-1',
      type: 'user.signup',
      source: 'accounts',
      occurredAt: '2026-03-04T05:06:07.123Z',
      key: 'user-7',
      correlationId: 'req-9',
      schemaVersion: 2,
      payload: {plan: 'pro', seats: 3, nested: {ok: true}},
      ...overrides,
    },
  }
}

describe('insertId', () => {
  it('is topic-partition-offset: the same record always gets the same id, two records never share one', () => {
    expect(insertId({topic: 'analytics', partition: 2, offset: '41'})).toBe('analytics-2-41')
    expect(insertId({topic: 'a.b-c', partition: 0, offset: '9007199254740993'})).toBe('a.b-c-0-9007199254740993')
    expect(insertId({topic: 'analytics', partition: 1, offset: '23'})).not.toBe(insertId({topic: 'analytics', partition: 12, offset: '3'}))
  })
})

describe('bigQueryTimestamp', () => {
  it('writes every accepted envelope time as UTC with seconds, keeping microseconds', () => {
    expect(bigQueryTimestamp('2026-01-01T00:00Z')).toEqual({ok: true, value: '2026-01-01T00:00:00.000Z'})
    expect(bigQueryTimestamp('2026-01-01T05:30:00+0530')).toEqual({ok: true, value: '2026-01-01T00:00:00.000Z'})
    expect(bigQueryTimestamp('2026-01-01T00:00:00-02:00')).toEqual({ok: true, value: '2026-01-01T02:00:00.000Z'})
    expect(bigQueryTimestamp('2026-01-01T00:00:00.123456789Z')).toEqual({ok: true, value: '2026-01-01T00:00:00.123456Z'})
    expect(bigQueryTimestamp('2026-01-01T00:00:00.1234+01:00')).toEqual({ok: true, value: '2025-12-31T23:00:00.123400Z'})
    expect(bigQueryTimestamp('2026-01-01T00:00:00.5Z')).toEqual({ok: true, value: '2026-01-01T00:00:00.500Z'})
  })

  it('reports a time outside BigQuery\'s years 1 to 9999 (UTC) instead of sending it', () => {
    const late = bigQueryTimestamp('9999-12-31T23:59:59-05:00')
    expect(late.ok).toBe(false)
    expect(late.ok ? '' : late.message).toMatch(/outside BigQuery's TIMESTAMP range/)
    expect(bigQueryTimestamp('0000-06-01T00:00:00Z').ok).toBe(false)
    expect(bigQueryTimestamp('0001-01-01T00:00:00Z')).toEqual({ok: true, value: '0001-01-01T00:00:00.000Z'})
    expect(bigQueryTimestamp('9999-12-31T23:59:59.999999Z')).toEqual({ok: true, value: '9999-12-31T23:59:59.999999Z'})
    expect(bigQueryTimestamp('yesterday').ok).toBe(false)
  })

  it('always gives the canonical form for any time in range, denoting the same instant to the millisecond', () => {
    fc.assert(
      fc.property(fc.date({min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T00:00:00Z'), noInvalidDate: true}), fc.integer({min: -14 * 60, max: 14 * 60}), (date, offsetMinutes) => {
        const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23)
        const sign = offsetMinutes < 0 ? '-' : '+'
        const abs = Math.abs(offsetMinutes)
        const iso = `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
        const result = bigQueryTimestamp(iso)
        expect(result.ok).toBe(true)
        if (!result.ok) return
        expect(result.value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/)
        expect(Date.parse(result.value)).toBe(date.getTime())
      }),
    )
  })
})

describe('analyticsRow', () => {
  it('maps the envelope and the Kafka coordinates onto the columns, with the insert id and the payload as JSON text', () => {
    const outcome = analyticsRow(record(), '2026-03-04T06:00:00.000Z')
    expect(outcome).toEqual({
      ok: true,
      row: {
        insertId: 'analytics-2-41',
        json: {
          event_id: 'ev-1',
          type: 'user.signup',
          source: 'accounts',
          occurred_at: '2026-03-04T05:06:07.123Z',
          entity_key: 'user-7',
          correlation_id: 'req-9',
          schema_version: 2,
          payload: '{"plan":"pro","seats":3,"nested":{"ok":true}}',
          kafka_topic: 'analytics',
          kafka_partition: 2,
          kafka_offset: '41',
          ingested_at: '2026-03-04T06:00:00.000Z',
        },
      },
    })
  })

  it('keeps a missing correlation id as null and refuses an out-of-range time with the reason', () => {
    const outcome = analyticsRow(record({correlationId: null}), '2026-03-04T06:00:00.000Z')
    expect(outcome.ok && outcome.row.json.correlation_id).toBeNull()
    const late = analyticsRow(record({occurredAt: '9999-12-31T23:59:59-05:00'}), '2026-03-04T06:00:00.000Z')
    expect(late).toEqual({ok: false, message: expect.stringMatching(/occurredAt "9999-12-31T23:59:59-05:00" is outside/)})
  })

  it('counts the bytes the row adds to a request body, multi-byte characters included', () => {
    const ascii = analyticsRow(record(), 'now')
    const wide = analyticsRow(record({payload: {name: 'Zoë 😀'}}), 'now')
    if (!ascii.ok || !wide.ok) throw new Error('rows expected')
    expect(rowBytes(ascii.row)).toBe(Buffer.byteLength(JSON.stringify(ascii.row)) + 1)
    expect(rowBytes(wide.row)).toBe(Buffer.byteLength(JSON.stringify(wide.row), 'utf8') + 1)
    expect(rowBytes(wide.row)).toBeGreaterThan(JSON.stringify(wide.row).length + 1)
  })
})
