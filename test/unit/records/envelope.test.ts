import {describe, expect, it} from 'vitest'

import {findUnstorableText, isIsoTimestamp, MAX_FIELD_LENGTH, validateEnvelope} from '../../../src/lib/records/envelope.js'

export const validEvent = () => ({
  eventId: 'evt-1',
  type: 'user.signup',
  source: 'accounts',
  occurredAt: '2024-05-01T12:00:00.000Z',
  key: 'user-42',
  correlationId: 'corr-1',
  schemaVersion: 1,
  payload: {plan: 'pro', seats: 3},
})

describe('validateEnvelope', () => {
  it('accepts a complete envelope and returns only the envelope fields', () => {
    const result = validateEnvelope({...validEvent(), extra: 'dropped'})
    expect(result).toEqual({ok: true, event: validEvent()})
  })

  it.each([undefined, null, ''])('treats correlationId %j as none', (correlationId) => {
    const result = validateEnvelope({...validEvent(), correlationId})
    expect(result.ok && result.event.correlationId).toBeNull()
  })

  it.each([
    ['a string', 'hello', /the record is the string "hello", not a JSON object/],
    ['an array', [validEvent()], /the record is an array, not a JSON object/],
    ['null', null, /the record is null/],
    ['a number', 42, /the record is number 42/],
  ])('rejects %s as a record', (_name, value, message) => {
    const result = validateEnvelope(value)
    expect(result.ok).toBe(false)
    if (!result.ok) {
      expect(result.errorClass).toBe('validation')
      expect(result.message).toMatch(message)
    }
  })

  const fields = ['eventId', 'type', 'source', 'occurredAt', 'key', 'schemaVersion', 'payload'] as const
  it.each(fields)('names the missing field %s', (field) => {
    const event: Record<string, unknown> = validEvent()
    delete event[field]
    expect(validateEnvelope(event)).toEqual({ok: false, errorClass: 'validation', message: `field ${field} is missing.`})
  })

  it.each([
    ['eventId', 42, 'field eventId must be a string, not number 42.'],
    ['eventId', '', 'field eventId must not be empty.'],
    ['type', null, 'field type must be a string, not null.'],
    ['source', ['a'], 'field source must be a string, not an array.'],
    ['key', {id: 1}, 'field key must be a string, not an object.'],
    ['key', 'k'.repeat(MAX_FIELD_LENGTH + 1), `field key is ${MAX_FIELD_LENGTH + 1} characters long; the limit is ${MAX_FIELD_LENGTH}.`],
    ['correlationId', 7, 'field correlationId must be a string, not number 7.'],
    ['occurredAt', 1714564800000, 'field occurredAt must be an ISO-8601 timestamp string, not number 1714564800000.'],
    ['occurredAt', 'yesterday', 'field occurredAt "yesterday" is not an ISO-8601 timestamp with a time zone, such as 2024-05-01T12:00:00Z.'],
    ['schemaVersion', '1', 'field schemaVersion must be a positive whole number, not the string "1".'],
    ['schemaVersion', 1.5, 'field schemaVersion must be a positive whole number, not number 1.5.'],
    ['schemaVersion', 0, 'field schemaVersion must be a positive whole number, not number 0.'],
    ['schemaVersion', 2 ** 31, `field schemaVersion must be a positive whole number, not number ${2 ** 31}.`],
    ['payload', 'x', 'field payload must be a JSON object, not the string "x".'],
    ['payload', [1, 2], 'field payload must be a JSON object, not an array.'],
    ['payload', null, 'field payload must be a JSON object, not null.'],
  ])('rejects %s = %j with one sentence naming it', (field, value, message) => {
    expect(validateEnvelope({...validEvent(), [field]: value})).toEqual({ok: false, errorClass: 'validation', message})
  })
})

describe('isIsoTimestamp', () => {
  it.each([
    '2024-05-01T12:00:00Z',
    '2024-05-01T12:00Z',
    '2024-05-01T12:00:00.123Z',
    '2024-05-01T12:00:00.123456789Z',
    '2024-05-01T12:00:00+02:00',
    '2024-05-01T12:00:00-0530',
    '2024-05-01T12:00:00+15:59',
    '2024-05-01T12:00:00-1530',
    '2024-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
  ])('accepts %s', (text) => expect(isIsoTimestamp(text)).toBe(true))

  it.each([
    '2024-05-01',
    '2024-05-01T12:00:00',
    '2024-05-01 12:00:00Z',
    'May 1, 2024 12:00 UTC',
    '2024-13-01T00:00:00Z',
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-05-01T24:00:00Z',
    '2024-05-01T12:60:00Z',
    '0000-01-01T00:00:00Z',
    ' 2024-05-01T12:00:00Z',
    '2024-05-01T12:00:00+16:00',
    '2024-05-01T12:00:00-23:59',
    '2024-05-01T12:00:00+00:60',
    '2024-05-01T12:00:59.9999999999Z',
  ])('rejects %s', (text) => expect(isIsoTimestamp(text)).toBe(false))
})

describe('findUnstorableText', () => {
  it('finds nothing in ordinary text, including non-ASCII', () => {
    expect(findUnstorableText({a: 'héllo ✓ 😀', b: [1, 'x', {c: null}]})).toBeUndefined()
  })
  it('finds a NUL and names its path', () => {
    expect(findUnstorableText({payload: {items: ['ok', 'bad\0']}})).toBe('payload.items[1]')
  })
  it('finds an unpaired surrogate', () => {
    expect(findUnstorableText({a: {b: '\ud800'}})).toBe('a.b')
  })
  it('finds a NUL in a key', () => {
    expect(findUnstorableText({a: {'k\0': 1}})).toBe('a.k\0')
  })
})
