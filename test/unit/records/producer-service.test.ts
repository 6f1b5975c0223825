import {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {decodeEventRecord} from '../../../src/lib/records/decode.js'
import {prepareLine, readLines, type PrepareOptions} from '../../../src/lib/records/producer-service.js'

const options: PrepareOptions = {
  encoding: 'json',
  keyField: 'key',
  now: () => new Date('2024-05-01T12:00:00.000Z'),
  newEventId: () => 'generated-id',
}
const line = (value: unknown) => JSON.stringify(value)
const minimal = {type: 'user.signup', source: 'accounts', key: 'user-42', payload: {plan: 'pro'}}

function decoded(text: string, opts: PrepareOptions = options) {
  const prepared = prepareLine(text, opts)
  if (!prepared?.ok) throw new Error(`expected a message, got ${JSON.stringify(prepared)}`)
  const result = decodeEventRecord(prepared.value, {maxBytes: 1 << 20})
  if (!result.ok) throw new Error(result.message)
  return {prepared, event: result.event, encoding: result.encoding}
}

describe('prepareLine', () => {
  it('fills eventId, occurredAt and schemaVersion and keys by key', () => {
    const {prepared, event} = decoded(line(minimal))
    expect(prepared.key).toBe('user-42')
    expect(prepared.eventId).toBe('generated-id')
    expect(event).toEqual({
      eventId: 'generated-id',
      type: 'user.signup',
      source: 'accounts',
      occurredAt: '2024-05-01T12:00:00.000Z',
      key: 'user-42',
      correlationId: null,
      schemaVersion: 1,
      payload: {plan: 'pro'},
    })
  })

  it('keeps the values a line gives', () => {
    const {event} = decoded(line({...minimal, eventId: 'e-1', occurredAt: '2023-01-01T00:00:00Z', schemaVersion: 3, correlationId: 'c'}))
    expect(event).toMatchObject({eventId: 'e-1', occurredAt: '2023-01-01T00:00:00Z', schemaVersion: 3, correlationId: 'c'})
  })

  it('uses a fresh UUID per line by default', () => {
    const a = prepareLine(line(minimal), {encoding: 'json', keyField: 'key'})
    const b = prepareLine(line(minimal), {encoding: 'json', keyField: 'key'})
    expect(a?.ok && b?.ok && a.eventId !== b.eventId && /^[0-9a-f-]{36}$/.test(a.eventId)).toBe(true)
  })

  it('encodes as Avro when asked', () => {
    const {prepared, encoding} = decoded(line(minimal), {...options, encoding: 'avro'})
    expect(prepared.value[0]).toBe(0xc3)
    expect(encoding).toBe('avro')
  })

  it('takes the Kafka key from --key-field and fills the envelope key with it', () => {
    const {key: _key, ...noKey} = minimal
    const {prepared, event} = decoded(line({...noKey, payload: {customer: {id: 7}}}), {...options, keyField: 'payload.customer.id'})
    expect(prepared.key).toBe('7')
    expect(event.key).toBe('7')
  })

  it('rejects a line whose key differs from the --key-field value', () => {
    expect(prepareLine(line({...minimal, payload: {customerId: 'c-1'}}), {...options, keyField: 'payload.customerId'})).toEqual({
      ok: false,
      message: 'field key ("user-42") differs from field payload.customerId ("c-1"), the Kafka key.',
    })
  })

  it('skips blank lines', () => {
    expect(prepareLine('', options)).toBeNull()
    expect(prepareLine('   \t', options)).toBeNull()
  })

  it.each([
    ['{"type":', /^not valid JSON \(.+\)\.$/],
    ['[1,2]', /^not a JSON object \(got an array\)\.$/],
    ['42', /^not a JSON object \(got number\)\.$/],
    ['null', /^not a JSON object \(got null\)\.$/],
    [line({...minimal, key: undefined}), /^field key \(the Kafka key\) is missing\.$/],
    [line({...minimal, key: {id: 1}}), /^field key \(the Kafka key\) must be a string or a number\.$/],
    [line({...minimal, type: undefined}), /^field type is missing\.$/],
    [line({...minimal, payload: 'x'}), /^field payload must be a JSON object/],
    [line({...minimal, occurredAt: 'now'}), /^field occurredAt "now" is not an ISO-8601 timestamp/],
  ])('rejects %s with one sentence', (text, message) => {
    const prepared = prepareLine(text, options)
    expect(prepared?.ok).toBe(false)
    if (prepared && !prepared.ok) expect(prepared.message).toMatch(message)
  })

  it('rejects a line nested too deep instead of failing to encode it', () => {
    const text = JSON.stringify({...minimal, payload: {}}).replace('"payload":{}', `"payload":{"d":${'['.repeat(10_000)}${']'.repeat(10_000)}}`)
    expect(prepareLine(text, options)).toEqual({ok: false, message: 'the line nests JSON objects and arrays deeper than 512 levels.'})
  })

  it('rejects an event larger than the limit', () => {
    expect(prepareLine(line({...minimal, payload: {blob: 'x'.repeat(2000)}}), {...options, maxEventBytes: 1000})).toEqual({
      ok: false,
      message: expect.stringMatching(/^the encoded event is \d+ bytes, over the limit of 1000\.$/),
    })
  })
})

describe('readLines', () => {
  const collect = async (chunks: (string | Buffer)[]) => {
    const lines: string[] = []
    for await (const l of readLines(Readable.from(chunks, {objectMode: true}))) lines.push(l)
    return lines
  }

  it('splits on \\n and \\r\\n, across chunk boundaries, with or without a final newline', async () => {
    expect(await collect(['a\nb', 'c\r\nd\n', '\ne'])).toEqual(['a', 'bc', 'd', '', 'e'])
    expect(await collect(['a\n'])).toEqual(['a'])
  })

  it('keeps a multi-byte character split across chunks whole', async () => {
    const bytes = Buffer.from('é😀\nx')
    expect(await collect([bytes.subarray(0, 1), bytes.subarray(1, 4), bytes.subarray(4)])).toEqual(['é😀', 'x'])
  })

  it('reads nothing from empty input', async () => {
    expect(await collect([])).toEqual([])
  })
})
