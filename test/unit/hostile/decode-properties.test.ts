/**
 * Hostile input for the event decoder and the envelope validator (issue #12): arbitrary bytes,
 * arbitrary JSON, objects that look like envelopes with any type in any field, and bytes behind
 * the Avro single-object marker. Every answer is an event or a dead-letter class with one
 * sentence; the decoder's catch-all (an exception it did not foresee) never fires; what it
 * accepts is storable (PostgreSQL and JSON.stringify take it back); valid events round-trip.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {decodeEventRecord, encodeEvent, type DecodeResult} from '../../../src/lib/records/decode.js'
import {findUnstorableText, isIsoTimestamp, MAX_FIELD_LENGTH, MAX_JSON_DEPTH, validateEnvelope, type EventEnvelope} from '../../../src/lib/records/envelope.js'
import {prepareLine} from '../../../src/lib/records/producer-service.js'
import {defaultEventSchemas} from '../../../src/lib/records/schema-store.js'

const MAX_BYTES = 64 * 1024
const schemas = defaultEventSchemas()
const decode = (value: Buffer | null) => decodeEventRecord(value, {maxBytes: MAX_BYTES, schemas})
const CLASSES = ['decode', 'schema', 'validation', 'oversize']

/** The decoder's answer is classified, and not by the catch-all that marks an unforeseen exception. */
function expectClassified(result: DecodeResult): void {
  if (result.ok) {
    expectStorable(result.event)
    return
  }
  expect(CLASSES).toContain(result.errorClass)
  expect(result.message).toMatch(/^\S.{8,}\.$/s)
  expect(result.message).not.toMatch(/^the value could not be decoded:/)
  // A dead letter's message header stays small whatever the record held.
  expect(result.message.length).toBeLessThan(600)
}

/** What validateEnvelope / decodeEventRecord accept, PostgreSQL stores and JSON.stringify writes back. */
function expectStorable(event: EventEnvelope, check = {text: true}): void {
  for (const field of [event.eventId, event.type, event.source, event.key]) {
    expect(typeof field).toBe('string')
    expect(field.length).toBeGreaterThan(0)
    expect(field.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH)
  }
  expect(event.correlationId === null || (typeof event.correlationId === 'string' && event.correlationId.length > 0)).toBe(true)
  expect(isIsoTimestamp(event.occurredAt)).toBe(true)
  expect(Number.isSafeInteger(event.schemaVersion) && event.schemaVersion >= 1).toBe(true)
  expect(typeof event.payload === 'object' && event.payload !== null && !Array.isArray(event.payload)).toBe(true)
  if (check.text) expect(findUnstorableText(event)).toBeUndefined()
  expect(() => JSON.stringify(event.payload)).not.toThrow()
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const shortText = fc.string({unit: 'grapheme', minLength: 1, maxLength: 40})
const timestamp = fc.date({min: new Date('0100-01-01T00:00:00Z'), max: new Date('9000-12-31T23:59:59Z'), noInvalidDate: true}).map((d) => d.toISOString())
const validEvent: fc.Arbitrary<EventEnvelope> = fc.record({
  eventId: shortText,
  type: shortText,
  source: shortText,
  occurredAt: timestamp,
  key: shortText,
  correlationId: fc.option(shortText, {nil: null}),
  schemaVersion: fc.integer({min: 1, max: 2_147_483_647}),
  payload: fc.dictionary(fc.string({maxLength: 10}), fc.jsonValue({maxDepth: 3}), {maxKeys: 5}),
  // As JSON has it (-0 is written 0), so that decoded events compare equal.
}).map((event) => JSON.parse(JSON.stringify(event)) as EventEnvelope)

/** Values of every JSON and JS type, and strings a careless check or regex trips on. */
const hostileValue = fc.oneof(
  fc.anything({maxDepth: 2}),
  fc.jsonValue({maxDepth: 2}),
  fc.string({unit: 'binary', maxLength: 30}),
  fc.constantFrom('', ' ', '\0', '\ud800', 'a\udfffb', 'x'.repeat(MAX_FIELD_LENGTH), 'x'.repeat(MAX_FIELD_LENGTH + 1), '9'.repeat(100_000)),
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER, 1e308, Number.NaN, Infinity, -0, true, null, [], {}, [1], '1'),
  // Timestamps and their near misses, with long runs where a regex could backtrack.
  fc.constantFrom('2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2024-05-01T12:00:00+16:00', '2024-05-01T24:00:00Z', '0000-01-01T00:00:00Z', '2024-05-01T12:00:00', '2024-05-01 12:00:00Z'),
  fc.integer({min: 1, max: 50_000}).map((n) => `2024-05-01T12:00:00.${'1'.repeat(n)}Z`),
  fc.integer({min: 1, max: 50_000}).map((n) => `${'2024-'.repeat(n)}`),
  fc.integer({min: 1, max: 50_000}).map((n) => `2024-05-01T12:00:00+${'0'.repeat(n)}`),
)

/** An object that is a valid envelope in some fields and hostile in others (or missing them). */
const envelopeLike = fc.tuple(validEvent, fc.dictionary(fc.constantFrom('eventId', 'type', 'source', 'occurredAt', 'key', 'correlationId', 'schemaVersion', 'payload', 'extra', '__proto__'), fc.option(hostileValue, {nil: undefined}), {maxKeys: 4})).map(([valid, overrides]) => {
  const record: Record<string, unknown> = {...valid}
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete record[name]
    else Object.defineProperty(record, name, {value, enumerable: true, writable: true, configurable: true})
  }
  return record
})

/** JSON text nested `depth` levels below the payload, as objects or arrays. */
function nestedPayloadJson(event: EventEnvelope, depth: number, bracket: '[' | '{'): string {
  const open = bracket === '[' ? '[' : '{"a":'
  const close = bracket === '[' ? ']' : '}'
  const nested = `${open.repeat(depth)}1${close.repeat(depth)}`
  return JSON.stringify({...event, payload: {}}).replace('"payload":{}', `"payload":{"deep":${nested}}`)
}

// ---------------------------------------------------------------------------------------------

describe('decodeEventRecord on hostile input', () => {
  it('arbitrary bytes: always classified', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 300}), (bytes) => expectClassified(decode(Buffer.from(bytes)))),
      {numRuns: 2000},
    )
  })

  it('arbitrary JSON values (any text a producer could send as JSON): always classified', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.json(), fc.string({unit: 'binary'})), (value) => {
        const text = typeof value === 'string' ? value : JSON.stringify(value)
        if (text === undefined) return
        expectClassified(decode(Buffer.from(text, 'utf8')))
      }),
      {numRuns: 1000},
    )
  })

  it('envelope-like objects with hostile fields: an event exactly when validateEnvelope accepts them, else validation', () => {
    fc.assert(
      fc.property(envelopeLike, (record) => {
        const text = JSON.stringify(record)
        if (text === undefined) return
        const result = decode(Buffer.from(text, 'utf8'))
        expectClassified(result)
        // The decoder is the size limit, the validator, and what PostgreSQL cannot store.
        const checked = validateEnvelope(JSON.parse(text))
        if (Buffer.byteLength(text) > MAX_BYTES) expect(result).toMatchObject({ok: false, errorClass: 'oversize'})
        else if (!checked.ok) expect(result).toEqual({ok: false, errorClass: 'validation', message: checked.message})
        else if (findUnstorableText(checked.event) !== undefined) expect(result).toMatchObject({ok: false, errorClass: 'validation'})
        else expect(result).toEqual({ok: true, event: checked.event, encoding: 'json'})
      }),
      {numRuns: 1000},
    )
  })

  it('validateEnvelope on any JS value: a result, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), envelopeLike), (value) => {
        const result = validateEnvelope(value)
        // Storable text is the decoders' check after this one (only they know whether a \u escape came in).
        if (result.ok) expectStorable(result.event, {text: false})
        else expect(result.errorClass).toBe('validation')
      }),
      {numRuns: 1000},
    )
  })

  it('kpipe produce accepts a line exactly when the events worker will accept the event it writes', () => {
    fc.assert(
      fc.property(envelopeLike, fc.constantFrom('json' as const, 'avro' as const), (record, encoding) => {
        const text = JSON.stringify(record)
        if (text === undefined) return
        const prepared = prepareLine(text, {encoding, keyField: 'key', maxEventBytes: MAX_BYTES, newEventId: () => 'generated-id', now: () => new Date(0)})
        if (prepared?.ok) expect(decode(prepared.value)).toMatchObject({ok: true})
      }),
      {numRuns: 1000},
    )
  })

  it('valid events round-trip through JSON and through every Avro schema version', () => {
    fc.assert(
      fc.property(validEvent, fc.constantFrom(...schemas.versions.map((v) => v.version)), (event, version) => {
        expect(decode(encodeEvent(event, 'json'))).toEqual({ok: true, event, encoding: 'json'})
        expect(decode(encodeEvent(event, 'avro', {schemas, avroSchemaVersion: version}))).toEqual({ok: true, event, encoding: 'avro'})
      }),
      {numRuns: 300},
    )
  })

  it('every timestamp the validator accepts survives the Avro encoding (years 1 to 9999, any zone offset)', () => {
    const two = (n: number) => String(n).padStart(2, '0')
    const text = fc
      .record({
        year: fc.oneof(fc.integer({min: 1, max: 9999}), fc.constantFrom(1, 9999)),
        month: fc.integer({min: 1, max: 12}),
        day: fc.integer({min: 1, max: 31}),
        hour: fc.integer({min: 0, max: 23}),
        minute: fc.integer({min: 0, max: 59}),
        zone: fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), fc.integer({min: 0, max: 15}), fc.integer({min: 0, max: 59})).map(([sign, h, m]) => `${sign}${two(h)}:${two(m)}`)),
      })
      .map((t) => `${String(t.year).padStart(4, '0')}-${two(t.month)}-${two(t.day)}T${two(t.hour)}:${two(t.minute)}:00${t.zone}`)
    const event = {eventId: 'e', type: 't', source: 's', key: 'k', correlationId: null, schemaVersion: 1, payload: {}}
    fc.assert(
      fc.property(text, (occurredAt) => {
        const checked = validateEnvelope({...event, occurredAt})
        if (!checked.ok) return
        const decoded = decode(encodeEvent(checked.event, 'avro', {schemas}))
        expect(decoded.ok && Date.parse(decoded.event.occurredAt)).toBe(Date.parse(occurredAt))
      }),
      {numRuns: 2000},
    )
    expect(validateEnvelope({...event, occurredAt: '9999-12-31T23:59:59-15:00'}).ok).toBe(false)
    expect(validateEnvelope({...event, occurredAt: '0001-01-01T00:00:00+00:01'}).ok).toBe(false)
    expect(validateEnvelope({...event, occurredAt: '9999-12-31T23:59:59+15:00'}).ok).toBe(true)
  })

  it('bytes behind the Avro marker with a known fingerprint: always classified', () => {
    const headers = schemas.versions.map((v) => Buffer.concat([Buffer.from([0xc3, 0x01]), v.fingerprint]))
    fc.assert(
      fc.property(fc.constantFrom(...headers), fc.uint8Array({maxLength: 200}), validEvent, fc.nat(), (header, body, event, cut) => {
        expectClassified(decode(Buffer.concat([header, Buffer.from(body)])))
        // A real body cut short or with bytes flipped or appended.
        const real = encodeEvent(event, 'avro', {schemas})
        const at = 2 + (cut % (real.length - 2))
        expectClassified(decode(real.subarray(0, at)))
        const flipped = Buffer.from(real)
        flipped[at] = flipped[at]! ^ 0xff
        expectClassified(decode(flipped))
        expectClassified(decode(Buffer.concat([real, Buffer.from(body)])))
      }),
      {numRuns: 1000},
    )
  })

  it('an unknown fingerprint is a schema error naming it', () => {
    const known = new Set(schemas.versions.map((v) => v.fingerprint.toString('hex')))
    fc.assert(
      fc.property(fc.uint8Array({minLength: 8, maxLength: 8}), fc.uint8Array({maxLength: 50}), (fingerprint, body) => {
        const hex = Buffer.from(fingerprint).toString('hex')
        fc.pre(!known.has(hex))
        const result = decode(Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint, body]))
        expect(result).toMatchObject({ok: false, errorClass: 'schema'})
        expect(result.ok ? '' : result.message).toContain(hex)
      }),
      {numRuns: 500},
    )
  })

  it('JSON nested past the depth limit is a validation error; at the limit it is an event', () => {
    fc.assert(
      fc.property(validEvent, fc.integer({min: 1, max: 3 * MAX_JSON_DEPTH}), fc.constantFrom('[' as const, '{' as const), (event, depth, bracket) => {
        // The envelope and the payload are two levels; "deep" adds `depth` more.
        const result = decodeEventRecord(Buffer.from(nestedPayloadJson(event, depth, bracket)), {maxBytes: 10 * MAX_BYTES, schemas})
        expectClassified(result)
        if (depth + 2 > MAX_JSON_DEPTH) expect(result).toMatchObject({ok: false, errorClass: 'validation'})
        else expect(result.ok).toBe(true)
      }),
      {numRuns: 300},
    )
  })

  it('a value exactly at --max-record-bytes is read, one byte over is oversize', () => {
    fc.assert(
      fc.property(validEvent, fc.integer({min: 0, max: 2}), (event, extra) => {
        const base = encodeEvent(event, 'json')
        fc.pre(base.length < MAX_BYTES)
        // Pad with JSON whitespace: same event, any size.
        const value = Buffer.concat([base, Buffer.alloc(MAX_BYTES - base.length + extra - 1, 0x20)])
        const result = decode(value)
        if (value.length > MAX_BYTES) expect(result).toMatchObject({ok: false, errorClass: 'oversize'})
        else expect(result).toEqual({ok: true, event, encoding: 'json'})
      }),
      {numRuns: 100},
    )
  })

  it('answers in linear time on long runs of digits in the timestamp and huge fields', () => {
    // The test's own timeout is the bound (a backtracking regex on these takes minutes), not a timing assertion.
    const event = {eventId: 'e', type: 't', source: 's', key: 'k', schemaVersion: 1, payload: {}}
    for (const occurredAt of [`2024-05-01T12:00:00.${'1'.repeat(1_000_000)}`, `${'1'.repeat(1_000_000)}`, `2024-05-01T12:00:00+${'1'.repeat(1_000_000)}`]) {
      expect(validateEnvelope({...event, occurredAt})).toMatchObject({ok: false, errorClass: 'validation'})
    }
    expectClassified(decodeEventRecord(Buffer.from(`{"eventId":"${'x'.repeat(2_000_000)}"}`), {maxBytes: 4_000_000}))
    expectClassified(decodeEventRecord(Buffer.from('['.repeat(1_000_000)), {maxBytes: 4_000_000}))
  }, 10_000)
})
