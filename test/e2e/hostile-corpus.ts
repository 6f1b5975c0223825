/**
 * The hostile corpus of issue #12 for test/e2e/hostile-input.test.ts: records a producer could
 * send to any worker's topic, each with what the events and analytics workers must do with it
 * (store it, or dead-letter it with a class) and what the logs worker must do (which stores
 * everything that is text, DESIGN §3 and README "worker logs"). Every record has a key of its
 * own, so the dead letters are accounted for by key, whatever partition or offset they got.
 */
import type {IHeaders, Message} from 'kafkajs'

import {encodeAvroEvent} from '../../src/lib/records/avro-event.js'
import {MAX_JSON_DEPTH, type EventEnvelope} from '../../src/lib/records/envelope.js'
import {defaultEventSchemas} from '../../src/lib/records/schema-store.js'
import type {ErrorClass} from '../../src/lib/workers/types.js'
import {makeEvents} from '../integration/workers/helpers.js'

export type Outcome = 'stored' | ErrorClass

export interface CorpusEntry {
  name: string
  message: Message
  /** What the events and the analytics workers do with it (they share the event decoder). */
  events: Outcome
  /** What the logs worker does with it. */
  logs: Outcome
  /** The event a stored record holds (events and analytics). */
  event?: EventEnvelope
}

/** --max-record-bytes of the run: small, so the records at and over it stay cheap. */
export const MAX_RECORD_BYTES = 64 * 1024
export const HUGE_KEY_BYTES = 100_000
export const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const
export type Codec = (typeof CODECS)[number]

/** A header value that is not UTF-8: NUL, a lone continuation byte, an invalid lead byte. */
export const BINARY_HEADER = Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0xfe])

export interface Corpus {
  /** Hostile records interleaved with valid ones, sent uncompressed in this order. */
  plain: CorpusEntry[]
  /** Valid records sent in batches compressed with each codec. */
  compressed: Record<Codec, CorpusEntry[]>
  all: CorpusEntry[]
}

export function hostileCorpus(scope: string, validPlain = 200, validPerCodec = 50): Corpus {
  const total = validPlain + validPerCodec * CODECS.length + 10
  const events = makeEvents(total, scope, {entities: total})
  let next = 0
  const take = () => events[next++]!
  const stored = (name: string, event: EventEnvelope, message: Partial<Message> = {}): CorpusEntry => ({
    name,
    message: {key: event.key, value: JSON.stringify(event), ...message},
    events: 'stored',
    logs: 'stored',
    event,
  })
  let h = 0
  const hostile = (name: string, value: Buffer | string | null, events: Outcome, logs: Outcome, extra: {key?: string; headers?: IHeaders} = {}): CorpusEntry => ({
    name,
    message: {key: extra.key ?? `${scope}-h-${h++}`, value, headers: extra.headers},
    events,
    logs,
  })

  const base = take()
  const envelope = (eventId: string) => ({...base, eventId})
  const writer = defaultEventSchemas().writer()
  const avro = encodeAvroEvent(base, writer)
  const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`
  const padded = (event: EventEnvelope, bytes: number) => {
    const json = JSON.stringify(event)
    return Buffer.concat([Buffer.from(json), Buffer.alloc(bytes - Buffer.byteLength(json), 0x20)])
  }
  const wrongTypes: [string, unknown][] = [
    ['eventId', 42],
    ['type', ['user.signup']],
    ['source', {name: 'svc'}],
    ['occurredAt', 1_767_225_600_000],
    ['occurredAt', '2026-02-30T00:00:00Z'],
    ['key', true],
    ['correlationId', 7],
    ['schemaVersion', '1'],
    ['schemaVersion', 1.5],
    ['payload', 'not an object'],
    ['payload', null],
  ]
  const atLimit = take()
  const overLimit = take()
  const hugeKeyed = take()
  const binaryHeaders = take()

  const hostileEntries: CorpusEntry[] = [
    hostile('invalid UTF-8 in a JSON string', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'decode', 'decode'),
    hostile('overlong UTF-8 (C0 AF)', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), 'decode', 'decode'),
    hostile('a UTF-16 surrogate encoded in UTF-8 (ED A0 80)', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), 'decode', 'decode'),
    // Deeper than the decoder's limit: JSON.stringify and jsonb would not take it back.
    hostile('an envelope whose payload nests past the depth limit', JSON.stringify(envelope(`${scope}-deep`)).replace(/"payload":\{.*\}\}$/, `"payload":${deep(MAX_JSON_DEPTH + 10)}}`), 'validation', 'stored'),
    hostile('30,000 nested arrays', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, 'validation', 'stored'),
    hostile('one byte over --max-record-bytes', padded(overLimit, MAX_RECORD_BYTES + 1), 'oversize', 'oversize'),
    hostile('a 100 KB key on a value that is not UTF-8', Buffer.from([0xff, 0xff]), 'decode', 'decode', {key: `${scope}-h-huge-${'k'.repeat(HUGE_KEY_BYTES)}`}),
    ...wrongTypes.map(([field, value]) => hostile(`${field} of the wrong type (${JSON.stringify(value)})`, JSON.stringify({...envelope(`${scope}-wrong-${h}`), [field]: value}), 'validation', 'stored')),
    hostile('an envelope with a NUL (\\u0000) in its eventId', JSON.stringify(envelope(`${scope}-nul-\u0000`)), 'validation', 'stored'),
    hostile('an Avro single-object value with an unknown fingerprint', Buffer.concat([avro.subarray(0, 2), Buffer.from('0123456789abcdef', 'hex'), avro.subarray(10)]), 'schema', 'decode'),
    hostile('an Avro value cut short', avro.subarray(0, avro.length - 5), 'decode', 'decode'),
    hostile('a tombstone (null value)', null, 'decode', 'decode'),
    hostile('an empty value', Buffer.alloc(0), 'decode', 'stored'),
    hostile('binary header values on a value that is not UTF-8', Buffer.from([0xfe, 0xfe, 0xfe]), 'decode', 'decode', {headers: {'x-binary': BINARY_HEADER, service: BINARY_HEADER}}),
  ]
  const specialStored: CorpusEntry[] = [
    stored('a value exactly --max-record-bytes long', atLimit, {value: padded(atLimit, MAX_RECORD_BYTES)}),
    stored('a valid event under a 100 KB key', hugeKeyed, {key: `${scope}-huge-${'k'.repeat(HUGE_KEY_BYTES)}`}),
    stored('a valid event with binary header values', binaryHeaders, {headers: {'x-binary': BINARY_HEADER, service: BINARY_HEADER}}),
  ]
  const plainValid = Array.from({length: validPlain}, () => stored('valid', take()))
  // Spread the hostile records among the valid ones.
  const plain: CorpusEntry[] = []
  const special = [...hostileEntries, ...specialStored]
  const every = Math.max(1, Math.floor(plainValid.length / special.length))
  plainValid.forEach((entry, i) => {
    plain.push(entry)
    if (i % every === 0 && special.length > 0) plain.push(special.shift()!)
  })
  plain.push(...special)
  const compressed = Object.fromEntries(CODECS.map((codec) => [codec, Array.from({length: validPerCodec}, () => stored(`valid, ${codec}`, take()))])) as Record<Codec, CorpusEntry[]>
  return {plain, compressed, all: [...plain, ...CODECS.flatMap((codec) => compressed[codec])]}
}
