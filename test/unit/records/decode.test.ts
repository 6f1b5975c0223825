import {mkdtempSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {decodeEventRecord, encodeEvent, type DecodeResult} from '../../../src/lib/records/decode.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import {PACKAGE_SCHEMAS_DIR} from '../../../src/lib/records/schema-files.js'
import {defaultEventSchemas, EventSchemaStore} from '../../../src/lib/records/schema-store.js'

const MAX = 64 * 1024
const event = (): EventEnvelope => ({
  eventId: '6d7c1b8e-0d4e-4c43-9b7e-3f1d2a4b5c6d',
  type: 'user.signup',
  source: 'accounts',
  occurredAt: '2024-05-01T12:00:00.123Z',
  key: 'user-42',
  correlationId: 'corr-1',
  schemaVersion: 1,
  payload: {plan: 'pro', seats: 3, tags: ['a', 'é'], nested: {ok: true}},
})
const decode = (value: Buffer | null) => decodeEventRecord(value, {maxBytes: MAX})
const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8')

function failure(result: DecodeResult): {errorClass: string; message: string} {
  expect(result.ok).toBe(false)
  if (result.ok) throw new Error('expected a failure')
  return {errorClass: result.errorClass, message: result.message}
}

describe('decodeEventRecord: JSON', () => {
  it('decodes a JSON envelope', () => {
    expect(decode(json(event()))).toEqual({ok: true, event: event(), encoding: 'json'})
  })

  it('round-trips through encodeEvent(json)', () => {
    expect(decode(encodeEvent(event(), 'json'))).toEqual({ok: true, event: event(), encoding: 'json'})
  })

  it('accepts a UTF-8 byte order mark and surrounding whitespace', () => {
    const value = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` ${JSON.stringify(event())}\n`)])
    expect(decode(value).ok).toBe(true)
  })

  it('rejects a tombstone (null value) as decode', () => {
    expect(failure(decode(null))).toEqual({errorClass: 'decode', message: 'the record has no value (a tombstone).'})
  })

  it('rejects an empty value as decode', () => {
    expect(failure(decode(Buffer.alloc(0)))).toEqual({errorClass: 'decode', message: 'the value is empty.'})
  })

  it('rejects invalid UTF-8 as decode', () => {
    const value = Buffer.concat([Buffer.from('{"eventId":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])
    expect(failure(decode(value)).errorClass).toBe('decode')
    expect(failure(decode(value)).message).toMatch(/nor valid UTF-8 text/)
  })

  it('rejects an overlong UTF-8 sequence as decode', () => {
    expect(failure(decode(Buffer.from([0x22, 0xc0, 0xaf, 0x22]))).errorClass).toBe('decode')
  })

  it('rejects text that is not JSON as decode', () => {
    const {errorClass, message} = failure(decode(Buffer.from('user signed up')))
    expect(errorClass).toBe('decode')
    expect(message).toMatch(/^the value is not JSON: .*\.$/)
  })

  it('rejects truncated JSON as decode', () => {
    expect(failure(decode(json(event()).subarray(0, 30))).errorClass).toBe('decode')
  })

  it.each([
    ['a JSON array', [event()]],
    ['a JSON string', 'hello'],
    ['a JSON number', 42],
    ['JSON null', null],
  ])('rejects %s as validation', (_name, value) => {
    expect(failure(decode(json(value))).errorClass).toBe('validation')
  })

  it('rejects a missing field as validation, naming it', () => {
    const {eventId: _dropped, ...rest} = event()
    expect(failure(decode(json(rest)))).toEqual({errorClass: 'validation', message: 'field eventId is missing.'})
  })

  it('rejects a field of the wrong type as validation, naming it', () => {
    expect(failure(decode(json({...event(), schemaVersion: 'one'})))).toEqual({
      errorClass: 'validation',
      message: 'field schemaVersion must be a positive whole number, not the string "one".',
    })
  })

  it('rejects a payload that is not an object as validation', () => {
    expect(failure(decode(json({...event(), payload: [1]}))).message).toBe('field payload must be a JSON object, not an array.')
  })

  it('rejects an unparsable occurredAt as validation', () => {
    expect(failure(decode(json({...event(), occurredAt: '2024-02-30T00:00:00Z'}))).message).toMatch(/field occurredAt/)
  })

  it('rejects a value over maxBytes as oversize before parsing it', () => {
    const value = Buffer.alloc(MAX + 1, 0x20)
    expect(failure(decode(value))).toEqual({errorClass: 'oversize', message: `the value is ${MAX + 1} bytes, over the limit of ${MAX}.`})
  })

  it('accepts a value of exactly maxBytes', () => {
    const value = json(event())
    expect(decodeEventRecord(value, {maxBytes: value.length}).ok).toBe(true)
  })

  it('rejects a \\u0000 escape in the payload as validation (PostgreSQL cannot store NUL)', () => {
    const value = Buffer.from(JSON.stringify(event()).replace('"pro"', '"p\\u0000ro"'))
    expect(failure(decode(value))).toEqual({
      errorClass: 'validation',
      message: 'field payload.plan holds a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL cannot store.',
    })
  })

  it('rejects a lone surrogate escape in an id field as validation', () => {
    const value = Buffer.from(JSON.stringify(event()).replace('"user-42"', '"user-\\ud83d"'))
    expect(failure(decode(value)).message).toMatch(/^field key holds/)
  })

  const nested = (depth: number) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown
  it('rejects JSON nested deeper than 512 levels as validation (it would overflow JSON.stringify and jsonb)', () => {
    const value = Buffer.from(JSON.stringify(event()).replace('"payload":{', `"payload":{"deep":${'['.repeat(5000)}${']'.repeat(5000)},`))
    expect(failure(decode(value))).toEqual({errorClass: 'validation', message: 'the value nests JSON objects and arrays deeper than 512 levels.'})
  })

  it('accepts nesting up to the limit, and does not count brackets inside strings', () => {
    expect(decode(json({...event(), payload: {deep: nested(510)}})).ok).toBe(true)
    expect(decode(json({...event(), payload: {text: '[{'.repeat(5000) + '\\"[['}})).ok).toBe(true)
  })

  it('accepts ordinary \\u escapes', () => {
    const value = Buffer.from(JSON.stringify(event()).replace('"pro"', '"\\u00e9\\ud83d\\ude00"'))
    const result = decode(value)
    expect(result.ok && result.event.payload.plan).toBe('é😀')
  })
})

describe('decodeEventRecord: Avro single-object encoding', () => {
  const schemas = defaultEventSchemas()

  it('writes the marker C3 01 and the writer schema fingerprint', () => {
    const value = encodeEvent(event(), 'avro')
    expect(value.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]))
    expect(value.subarray(2, 10)).toEqual(schemas.reader.fingerprint)
  })

  it('round-trips with the newest schema', () => {
    expect(decode(encodeEvent(event(), 'avro'))).toEqual({ok: true, event: event(), encoding: 'avro'})
  })

  it('normalises occurredAt to UTC milliseconds (Avro timestamp-millis)', () => {
    const result = decode(encodeEvent({...event(), occurredAt: '2024-05-01T14:00:00.123456+02:00'}, 'avro'))
    expect(result.ok && result.event.occurredAt).toBe('2024-05-01T12:00:00.123Z')
  })

  it('keeps a null correlationId', () => {
    const result = decode(encodeEvent({...event(), correlationId: null}, 'avro'))
    expect(result.ok && result.event.correlationId).toBeNull()
  })

  it('reads v1-written data with the v2 reader (backward compatible)', () => {
    expect(schemas.reader.version).toBe(2)
    const value = encodeEvent(event(), 'avro', {avroSchemaVersion: 1})
    expect(value.subarray(2, 10)).toEqual(schemas.writer(1).fingerprint)
    expect(value.subarray(2, 10)).not.toEqual(schemas.writer(2).fingerprint)
    expect(decode(value)).toEqual({ok: true, event: event(), encoding: 'avro'})
  })

  it('reads v2-written data with a v1 reader (forward compatible)', () => {
    const v1Reader = EventSchemaStore.load(PACKAGE_SCHEMAS_DIR, {readerVersion: 1})
    const value = encodeEvent(event(), 'avro', {avroSchemaVersion: 2})
    expect(decodeEventRecord(value, {maxBytes: MAX, schemas: v1Reader})).toEqual({ok: true, event: event(), encoding: 'avro'})
  })

  it('rejects v2 data as schema where v2 is unknown, and drops its traceId where v1 is the reader', () => {
    const v2 = schemas.writer(2)
    const body = v2.type.toBuffer({...event(), occurredAt: Date.parse(event().occurredAt), payloadJson: '{}', traceId: 'abc'})
    const value = Buffer.concat([Buffer.from([0xc3, 0x01]), v2.fingerprint, body])
    const onlyV1 = new EventSchemaStore([{...schemaFile(1)}])
    expect(failure(decodeEventRecord(value, {maxBytes: MAX, schemas: onlyV1})).errorClass).toBe('schema')
    const v1Reader = EventSchemaStore.load(PACKAGE_SCHEMAS_DIR, {readerVersion: 1})
    const result = decodeEventRecord(value, {maxBytes: MAX, schemas: v1Reader})
    expect(result.ok && result.event.payload).toEqual({})
  })

  it('rejects an unknown fingerprint as schema', () => {
    const value = encodeEvent(event(), 'avro')
    value.writeUInt32LE(0xdeadbeef, 2)
    const {errorClass, message} = failure(decode(value))
    expect(errorClass).toBe('schema')
    expect(message).toMatch(/^the Avro value was written with an unknown schema \(fingerprint efbeadde[0-9a-f]{8}\); known event schemas are v1, v2\.$/)
  })

  it('rejects a header shorter than 10 bytes as decode', () => {
    expect(failure(decode(Buffer.from([0xc3, 0x01, 1, 2, 3])))).toEqual({
      errorClass: 'decode',
      message: 'the Avro value is 5 bytes, shorter than the 10-byte single-object header.',
    })
  })

  it('rejects a truncated body as decode', () => {
    const value = encodeEvent(event(), 'avro')
    for (const cut of [10, 11, 20, value.length - 1]) {
      const {errorClass, message} = failure(decode(value.subarray(0, cut)))
      expect(errorClass).toBe('decode')
      expect(message).toMatch(/^the Avro body (is truncated|does not match)/)
    }
  })

  it('rejects trailing bytes after the body as decode', () => {
    const value = Buffer.concat([encodeEvent(event(), 'avro'), Buffer.from([0])])
    expect(failure(decode(value))).toEqual({errorClass: 'decode', message: 'the Avro body has 1 bytes left over after an event of schema v2.'})
  })

  it('never throws on random bytes after a valid header', () => {
    const header = encodeEvent(event(), 'avro').subarray(0, 10)
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) & 0xff
    for (let i = 0; i < 2000; i++) {
      const body = Buffer.from(Array.from({length: 1 + (i % 80)}, random))
      const result = decode(Buffer.concat([header, body]))
      if (!result.ok) expect(['decode', 'validation', 'schema']).toContain(result.errorClass)
    }
  })

  it('rejects an Avro record whose payloadJson is not JSON as validation', () => {
    const v2 = schemas.writer(2)
    const body = v2.type.toBuffer({...event(), occurredAt: 0, payloadJson: 'not json', traceId: null})
    const {errorClass, message} = failure(decode(Buffer.concat([Buffer.from([0xc3, 0x01]), v2.fingerprint, body])))
    expect(errorClass).toBe('validation')
    expect(message).toMatch(/^field payloadJson is not valid JSON/)
  })

  it('rejects an Avro record whose payloadJson nests too deep as validation', () => {
    const v2 = schemas.writer(2)
    const payloadJson = '{"deep":' + '['.repeat(3000) + ']'.repeat(3000) + '}'
    const body = v2.type.toBuffer({...event(), occurredAt: 0, payloadJson, traceId: null})
    expect(failure(decode(Buffer.concat([Buffer.from([0xc3, 0x01]), v2.fingerprint, body])))).toEqual({
      errorClass: 'validation',
      message: 'field payloadJson nests JSON objects and arrays deeper than 512 levels.',
    })
  })

  it('rejects an Avro record with an empty eventId as validation', () => {
    expect(failure(decode(encodeEvent({...event(), eventId: ''}, 'avro')))).toEqual({
      errorClass: 'validation',
      message: 'field eventId must not be empty.',
    })
  })

  it('rejects an Avro record with a raw NUL in a string as validation', () => {
    expect(failure(decode(encodeEvent({...event(), type: 'user\0signup'}, 'avro'))).message).toMatch(/^field type holds a NUL/)
  })

  it('checks oversize before the Avro header', () => {
    const value = encodeEvent(event(), 'avro')
    expect(failure(decodeEventRecord(value, {maxBytes: 10})).errorClass).toBe('oversize')
  })
})

describe('EventSchemaStore', () => {
  it('loads the package schemas, oldest first, the newest as reader', () => {
    const store = EventSchemaStore.load()
    expect(store.versions.map((v) => v.version)).toEqual([1, 2])
    expect(store.reader.version).toBe(2)
    expect(store.reader.resolver).toBeUndefined()
    expect(store.writer(1).resolver).toBeDefined()
  })

  it('refuses a schema set whose newest version cannot read an older one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-schemas-'))
    mkdirSync(path.join(dir, 'event'))
    writeFileSync(path.join(dir, 'event', 'v1.avsc'), readFileSync(path.join(PACKAGE_SCHEMAS_DIR, 'event', 'v1.avsc')))
    const broken = JSON.parse(readFileSync(path.join(PACKAGE_SCHEMAS_DIR, 'event', 'v2.avsc'), 'utf8')) as {fields: {name: string; type: unknown}[]}
    broken.fields.push({name: 'tenant', type: 'string'})
    writeFileSync(path.join(dir, 'event', 'v2.avsc'), JSON.stringify(broken))
    expect(() => EventSchemaStore.load(dir)).toThrow(/cannot read data written with .*v1\.avsc/)
  })
})

function schemaFile(version: number) {
  const store = defaultEventSchemas()
  const v = store.writer(version)
  return {subject: 'event', version, file: v.file, type: v.type, canonical: v.canonical}
}
